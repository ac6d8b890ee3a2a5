-- Placeholder on branch api only: migration 005 belongs to issue #5
-- (jurisdiction rules, interest) on the main branch. tern refuses a gap in
-- the numbering, so this empty step holds the number until the merge, where
-- this file is deleted in favour of issue #5's 005.

SELECT 1;

---- create above / drop below ----
SELECT 1;
