-- Carry the old single attention state into the health model: an auth failure needs the provider
-- to reconnect; anything else is failing.
UPDATE "calendar_sources" SET "status" = CASE WHEN "attention_reason" LIKE '%upstream_auth%' THEN 'needs_reconnect' ELSE 'failing' END, "last_error_code" = "attention_reason", "last_error_at" = now() WHERE "status" = 'needs_attention';
