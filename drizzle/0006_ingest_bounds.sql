ALTER TABLE "deliveries" ADD COLUMN "claimed_until" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "deliveries" ADD COLUMN "set_aside" jsonb;--> statement-breakpoint
ALTER TABLE "external_events" ADD COLUMN "cancellation_held_at" timestamp with time zone;