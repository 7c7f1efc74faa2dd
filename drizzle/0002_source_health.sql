ALTER TABLE "calendar_sources" ADD COLUMN "last_error_code" text;--> statement-breakpoint
ALTER TABLE "calendar_sources" ADD COLUMN "last_error_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "calendar_sources" ADD COLUMN "consecutive_failures" integer DEFAULT 0 NOT NULL;