-- An email is the message its first attempt rendered. The activity builds
-- an email from the database (the book of record), so a retry that rendered
-- again would send other bytes when a fact was recorded between the two
-- attempts (a payment makes a request email's amount due smaller): a tenant
-- whose first copy may have arrived (an attempt in doubt) would get two
-- different messages under one Message-ID. The outbox keeps what the first
-- attempt rendered, and every attempt sends that. NULL bodies: rows written
-- before this migration, which render again as before.
ALTER TABLE email_outbox
    ADD COLUMN recipient_name text NOT NULL DEFAULT '',
    ADD COLUMN cc             text[] NOT NULL DEFAULT '{}',
    ADD COLUMN body_text      text,
    ADD COLUMN body_html      text;

---- create above / drop below ----
ALTER TABLE email_outbox DROP COLUMN recipient_name, DROP COLUMN cc, DROP COLUMN body_text, DROP COLUMN body_html;
