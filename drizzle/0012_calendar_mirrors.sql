CREATE TABLE "calendar_mirrors" (
	"id" uuid PRIMARY KEY NOT NULL,
	"provider_id" uuid NOT NULL,
	"connection_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"privacy" text NOT NULL,
	"include_link" boolean NOT NULL,
	"remote_calendar_id" text,
	"status" text DEFAULT 'active' NOT NULL,
	"last_push_at" timestamp with time zone,
	"last_error_code" text,
	"last_error_at" timestamp with time zone,
	"last_repair_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"disabled_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "mirror_outbox" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "mirror_outbox_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"provider_id" uuid NOT NULL,
	"mirror_id" uuid NOT NULL,
	"session_id" uuid NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"state" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"next_attempt_at" timestamp with time zone,
	"claimed_until" timestamp with time zone,
	"last_error_code" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "mirrored_events" (
	"provider_id" uuid NOT NULL,
	"mirror_id" uuid NOT NULL,
	"session_id" uuid NOT NULL,
	"remote_event_id" text NOT NULL,
	"etag" text,
	"content_hash" text,
	"removed" boolean DEFAULT false NOT NULL,
	"pushed_at" timestamp with time zone NOT NULL,
	CONSTRAINT "mirrored_events_mirror_id_session_id_pk" PRIMARY KEY("mirror_id","session_id")
);
--> statement-breakpoint
CREATE INDEX "calendar_mirrors_provider_id_index" ON "calendar_mirrors" USING btree ("provider_id");--> statement-breakpoint
CREATE UNIQUE INDEX "calendar_mirrors_one_live" ON "calendar_mirrors" USING btree ("connection_id") WHERE "calendar_mirrors"."disabled_at" is null;--> statement-breakpoint
CREATE UNIQUE INDEX "mirror_outbox_mirror_id_session_id_index" ON "mirror_outbox" USING btree ("mirror_id","session_id");--> statement-breakpoint
CREATE INDEX "mirror_outbox_pending_idx" ON "mirror_outbox" USING btree ("next_attempt_at") WHERE "mirror_outbox"."state" = 'pending';--> statement-breakpoint
CREATE INDEX "mirrored_events_mirror_id_remote_event_id_index" ON "mirrored_events" USING btree ("mirror_id","remote_event_id");