CREATE TABLE "admin_web_sessions" (
	"id" uuid PRIMARY KEY NOT NULL,
	"token_hash" text NOT NULL,
	"admin_token_hash" text NOT NULL,
	"csrf_token" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen_at" timestamp with time zone NOT NULL,
	"expires_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "admin_web_sessions_token_hash_index" ON "admin_web_sessions" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "admin_web_sessions_expires_at_index" ON "admin_web_sessions" USING btree ("expires_at");