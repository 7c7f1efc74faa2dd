CREATE TABLE "delivery_payload_parts" (
	"delivery_id" bigint NOT NULL,
	"part" integer NOT NULL,
	"text" text NOT NULL,
	CONSTRAINT "delivery_payload_parts_delivery_id_part_pk" PRIMARY KEY("delivery_id","part")
);
--> statement-breakpoint
ALTER TABLE "delivery_payload_parts" ADD CONSTRAINT "delivery_payload_parts_delivery_id_deliveries_id_fk" FOREIGN KEY ("delivery_id") REFERENCES "public"."deliveries"("id") ON DELETE cascade ON UPDATE no action;