-- Reserved: migration 014 is the tenant page's (disputes), built on another
-- branch. tern numbers migrations without gaps, so this branch holds the
-- number with an empty migration until that branch is merged; the merge
-- replaces this file with the real 014 (delete this one then). A database
-- migrated by this branch alone records version 14 without its tables.
SELECT 1;

---- create above / drop below ----
SELECT 1;
