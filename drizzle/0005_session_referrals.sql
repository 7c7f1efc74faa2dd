CREATE TABLE "session_referrals" (
	"session_id" uuid PRIMARY KEY NOT NULL,
	"provider_id" uuid NOT NULL,
	"client_id" uuid NOT NULL,
	"state" text NOT NULL,
	"outcome" text NOT NULL,
	"referred_by" text NOT NULL,
	"referred_at" timestamp with time zone DEFAULT now() NOT NULL
);
