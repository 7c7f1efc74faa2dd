CREATE TABLE "api_keys" (
	"id" uuid PRIMARY KEY NOT NULL,
	"provider_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"prefix" text NOT NULL,
	"label" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "audit_events_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"provider_id" uuid NOT NULL,
	"actor" text NOT NULL,
	"action" text NOT NULL,
	"subject_id" text,
	"data" jsonb,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "calendar_sources" (
	"id" uuid PRIMARY KEY NOT NULL,
	"provider_id" uuid NOT NULL,
	"kind" text NOT NULL,
	"settings" jsonb NOT NULL,
	"secrets" jsonb NOT NULL,
	"channel_id" text,
	"sync_token" text,
	"etag" text,
	"last_modified" text,
	"status" text DEFAULT 'active' NOT NULL,
	"attention_reason" text,
	"last_synced_at" timestamp with time zone,
	"next_poll_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"deleted_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "client_locations" (
	"id" uuid PRIMARY KEY NOT NULL,
	"provider_id" uuid NOT NULL,
	"client_id" uuid NOT NULL,
	"state" text NOT NULL,
	"label" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"archived_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "clients" (
	"id" uuid PRIMARY KEY NOT NULL,
	"provider_id" uuid NOT NULL,
	"display_name" text NOT NULL,
	"insurance" text NOT NULL,
	"medicare" boolean NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "confirmations" (
	"session_id" uuid PRIMARY KEY NOT NULL,
	"provider_id" uuid NOT NULL,
	"client_location_id" uuid,
	"state" text NOT NULL,
	"label" text,
	"outcome" text NOT NULL,
	"row" integer NOT NULL,
	"billing" text,
	"link_used" text,
	"decision" jsonb NOT NULL,
	"confirmed_by" text NOT NULL,
	"confirmed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "deliveries" (
	"id" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "deliveries_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"provider_id" uuid NOT NULL,
	"source_id" uuid NOT NULL,
	"delivery_key" text NOT NULL,
	"kind" text NOT NULL,
	"payload" jsonb,
	"state" text DEFAULT 'pending' NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"available_at" timestamp with time zone DEFAULT now() NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	"processed_at" timestamp with time zone,
	"last_error_code" text
);
--> statement-breakpoint
CREATE TABLE "external_events" (
	"provider_id" uuid NOT NULL,
	"source_id" uuid NOT NULL,
	"external_id" text NOT NULL,
	"uid" text,
	"recurrence_id" timestamp with time zone,
	"status" text NOT NULL,
	"start_at" timestamp with time zone,
	"end_at" timestamp with time zone,
	"sequence" integer NOT NULL,
	"external_updated_at" timestamp with time zone,
	"busy" boolean NOT NULL,
	"provider_link" text,
	"session_id" uuid,
	"seen_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "external_events_source_id_external_id_pk" PRIMARY KEY("source_id","external_id")
);
--> statement-breakpoint
CREATE TABLE "feeds" (
	"id" uuid PRIMARY KEY NOT NULL,
	"provider_id" uuid NOT NULL,
	"name" text NOT NULL,
	"privacy" text NOT NULL,
	"include_link" boolean NOT NULL,
	"include_in_person" boolean NOT NULL,
	"past_days" integer NOT NULL,
	"future_days" integer NOT NULL,
	"secret_hash" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	"last_fetched_at" timestamp with time zone,
	"fetch_count" bigint DEFAULT 0 NOT NULL,
	"last_fetch_by_kind" jsonb DEFAULT '{}'::jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "instance_settings" (
	"key" text PRIMARY KEY NOT NULL,
	"value" text NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "providers" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"timezone" text NOT NULL,
	"licenses" jsonb NOT NULL,
	"credentialed_states" jsonb NOT NULL,
	"data_version" bigint DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"provider_id" uuid NOT NULL,
	"client_id" uuid NOT NULL,
	"uid" text NOT NULL,
	"sequence" integer DEFAULT 0 NOT NULL,
	"start_at" timestamp with time zone NOT NULL,
	"end_at" timestamp with time zone NOT NULL,
	"kind" text NOT NULL,
	"modality" text NOT NULL,
	"status" text NOT NULL,
	"telehealth_url" text,
	"external_uid" text,
	"external_recurrence_id" timestamp with time zone,
	"cancelled_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "telehealth_links" (
	"provider_id" uuid PRIMARY KEY NOT NULL,
	"url" text NOT NULL,
	"platform" text NOT NULL,
	"instructions" text,
	"baa_signed" boolean NOT NULL,
	"waiting_room_enabled" boolean NOT NULL,
	"compliant" boolean NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_token_hash_index" ON "api_keys" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "api_keys_provider_id_index" ON "api_keys" USING btree ("provider_id");--> statement-breakpoint
CREATE INDEX "audit_events_provider_id_at_index" ON "audit_events" USING btree ("provider_id","at");--> statement-breakpoint
CREATE INDEX "calendar_sources_provider_id_index" ON "calendar_sources" USING btree ("provider_id");--> statement-breakpoint
CREATE UNIQUE INDEX "calendar_sources_channel_id_index" ON "calendar_sources" USING btree ("channel_id");--> statement-breakpoint
CREATE INDEX "calendar_sources_kind_next_poll_at_index" ON "calendar_sources" USING btree ("kind","next_poll_at");--> statement-breakpoint
CREATE INDEX "client_locations_client_id_created_at_index" ON "client_locations" USING btree ("client_id","created_at");--> statement-breakpoint
CREATE INDEX "clients_provider_id_created_at_index" ON "clients" USING btree ("provider_id","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "deliveries_source_id_delivery_key_index" ON "deliveries" USING btree ("source_id","delivery_key");--> statement-breakpoint
CREATE INDEX "deliveries_pending_idx" ON "deliveries" USING btree ("available_at") WHERE "deliveries"."state" = 'pending';--> statement-breakpoint
CREATE INDEX "external_events_provider_id_start_at_index" ON "external_events" USING btree ("provider_id","start_at");--> statement-breakpoint
CREATE INDEX "external_events_session_id_index" ON "external_events" USING btree ("session_id");--> statement-breakpoint
CREATE UNIQUE INDEX "feeds_secret_hash_index" ON "feeds" USING btree ("secret_hash");--> statement-breakpoint
CREATE INDEX "feeds_provider_id_index" ON "feeds" USING btree ("provider_id");--> statement-breakpoint
CREATE UNIQUE INDEX "sessions_uid_index" ON "sessions" USING btree ("uid");--> statement-breakpoint
CREATE INDEX "sessions_provider_id_start_at_index" ON "sessions" USING btree ("provider_id","start_at");--> statement-breakpoint
CREATE INDEX "sessions_provider_id_updated_at_index" ON "sessions" USING btree ("provider_id","updated_at");--> statement-breakpoint
CREATE UNIQUE INDEX "sessions_provider_id_external_uid_external_recurrence_id_index" ON "sessions" USING btree ("provider_id","external_uid","external_recurrence_id") WHERE "sessions"."external_uid" is not null;