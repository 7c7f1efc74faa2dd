-- Locations recorded before they carried a time range held from when they were entered.
UPDATE "client_locations" SET "valid_from" = "created_at";--> statement-breakpoint
-- The one link each provider had becomes their default platform link.
INSERT INTO "telehealth_platform_links" ("provider_id", "platform_key", "url", "platform", "instructions", "baa_signed", "waiting_room_enabled", "compliant", "is_default", "updated_at")
SELECT "provider_id",
       CASE WHEN "platform" = 'other' THEN 'other:' || lower(substring("url" from '^https://([^/:?#]+)')) ELSE "platform" END,
       "url", "platform", "instructions", "baa_signed", "waiting_room_enabled", "compliant", true, "updated_at"
FROM "telehealth_links";--> statement-breakpoint
-- Sessions keep the link they had: confirmed ones the link recorded at confirmation, the others their
-- own link or, when they followed the default, the default (which they go on following).
UPDATE "sessions" s SET "telehealth_url" = c."link_used"
FROM "confirmations" c WHERE c."session_id" = s."id" AND s."kind" = 'virtual' AND s."telehealth_url" IS NULL AND c."link_used" IS NOT NULL;--> statement-breakpoint
UPDATE "sessions" s SET "link_follows_default" = (s."telehealth_url" IS NULL), "telehealth_url" = COALESCE(s."telehealth_url", CASE WHEN l."compliant" THEN l."url" END), "telehealth_link_id" = l."id"
FROM "telehealth_platform_links" l WHERE l."provider_id" = s."provider_id" AND l."is_default" AND s."kind" = 'virtual';
