CREATE TABLE "telehealth_platform_links" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"provider_id" uuid NOT NULL,
	"platform_key" text NOT NULL,
	"url" text NOT NULL,
	"platform" text NOT NULL,
	"instructions" text,
	"baa_signed" boolean NOT NULL,
	"waiting_room_enabled" boolean NOT NULL,
	"compliant" boolean NOT NULL,
	"is_default" boolean DEFAULT false NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"retired_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "client_locations" ALTER COLUMN "state" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "confirmations" ALTER COLUMN "state" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "client_locations" ADD COLUMN "country" text DEFAULT 'US' NOT NULL;--> statement-breakpoint
ALTER TABLE "client_locations" ADD COLUMN "valid_from" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "client_locations" ADD COLUMN "valid_to" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "confirmations" ADD COLUMN "country" text DEFAULT 'US' NOT NULL;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "telehealth_link_id" uuid;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "link_follows_default" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "telehealth_platform_links_provider_id_index" ON "telehealth_platform_links" USING btree ("provider_id");--> statement-breakpoint
CREATE UNIQUE INDEX "telehealth_platform_links_current_key" ON "telehealth_platform_links" USING btree ("provider_id","platform_key") WHERE "telehealth_platform_links"."retired_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "telehealth_platform_links_one_default" ON "telehealth_platform_links" USING btree ("provider_id") WHERE "telehealth_platform_links"."is_default" and "telehealth_platform_links"."retired_at" is null;--> statement-breakpoint
CREATE INDEX "client_locations_client_id_valid_from_index" ON "client_locations" USING btree ("client_id","valid_from");