CREATE TABLE "web_sessions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"provider_id" uuid NOT NULL,
	"api_key_id" uuid NOT NULL,
	"token_hash" text NOT NULL,
	"csrf_token" text NOT NULL,
	"flash" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "web_sessions_token_hash_index" ON "web_sessions" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "web_sessions_api_key_id_index" ON "web_sessions" USING btree ("api_key_id");--> statement-breakpoint
CREATE INDEX "web_sessions_provider_id_expires_at_index" ON "web_sessions" USING btree ("provider_id","expires_at");