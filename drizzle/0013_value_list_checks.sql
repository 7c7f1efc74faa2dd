ALTER TABLE "calendar_connections" ADD CONSTRAINT "calendar_connections_kind_check" CHECK ("calendar_connections"."kind" in ('google', 'microsoft'));--> statement-breakpoint
ALTER TABLE "calendar_connections" ADD CONSTRAINT "calendar_connections_status_check" CHECK ("calendar_connections"."status" in ('connected', 'needs_reconnect', 'disconnected'));--> statement-breakpoint
ALTER TABLE "calendar_mirrors" ADD CONSTRAINT "calendar_mirrors_kind_check" CHECK ("calendar_mirrors"."kind" in ('google', 'microsoft'));--> statement-breakpoint
ALTER TABLE "calendar_mirrors" ADD CONSTRAINT "calendar_mirrors_privacy_check" CHECK ("calendar_mirrors"."privacy" in ('minimal', 'initials', 'full'));--> statement-breakpoint
ALTER TABLE "calendar_mirrors" ADD CONSTRAINT "calendar_mirrors_status_check" CHECK ("calendar_mirrors"."status" in ('active', 'needs_reconnect', 'failing'));--> statement-breakpoint
ALTER TABLE "calendar_sources" ADD CONSTRAINT "calendar_sources_kind_check" CHECK ("calendar_sources"."kind" in ('ics_webhook', 'ics_url', 'google', 'microsoft'));--> statement-breakpoint
ALTER TABLE "calendar_sources" ADD CONSTRAINT "calendar_sources_status_check" CHECK ("calendar_sources"."status" in ('active', 'needs_reconnect', 'failing'));--> statement-breakpoint
ALTER TABLE "clients" ADD CONSTRAINT "clients_insurance_check" CHECK ("clients"."insurance" in ('in_network', 'out_of_network', 'self_pay'));--> statement-breakpoint
ALTER TABLE "confirmations" ADD CONSTRAINT "confirmations_outcome_check" CHECK ("confirmations"."outcome" in ('client_location_required', 'location_outside_us', 'audio_only_not_allowed', 'refer', 'eligible', 'needs_credentialing', 'private_pay_only'));--> statement-breakpoint
ALTER TABLE "confirmations" ADD CONSTRAINT "confirmations_billing_check" CHECK ("confirmations"."billing" in ('insurance', 'private_pay'));--> statement-breakpoint
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_kind_check" CHECK ("deliveries"."kind" in ('ics_payload', 'pull', 'full_resync', 'renew_channel'));--> statement-breakpoint
ALTER TABLE "deliveries" ADD CONSTRAINT "deliveries_state_check" CHECK ("deliveries"."state" in ('pending', 'done', 'failed', 'rejected'));--> statement-breakpoint
ALTER TABLE "external_events" ADD CONSTRAINT "external_events_status_check" CHECK ("external_events"."status" in ('confirmed', 'tentative', 'cancelled'));--> statement-breakpoint
ALTER TABLE "feeds" ADD CONSTRAINT "feeds_privacy_check" CHECK ("feeds"."privacy" in ('minimal', 'initials', 'full'));--> statement-breakpoint
ALTER TABLE "mirror_outbox" ADD CONSTRAINT "mirror_outbox_state_check" CHECK ("mirror_outbox"."state" in ('pending', 'done', 'failed'));--> statement-breakpoint
ALTER TABLE "oauth_states" ADD CONSTRAINT "oauth_states_kind_check" CHECK ("oauth_states"."kind" in ('google', 'microsoft'));--> statement-breakpoint
ALTER TABLE "session_referrals" ADD CONSTRAINT "session_referrals_outcome_check" CHECK ("session_referrals"."outcome" in ('client_location_required', 'location_outside_us', 'audio_only_not_allowed', 'refer', 'eligible', 'needs_credentialing', 'private_pay_only'));--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_kind_check" CHECK ("sessions"."kind" in ('virtual', 'in_person'));--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_modality_check" CHECK ("sessions"."modality" in ('video', 'audio_only'));--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_status_check" CHECK ("sessions"."status" in ('scheduled', 'cancelled', 'confirmed'));--> statement-breakpoint
ALTER TABLE "telehealth_platform_links" ADD CONSTRAINT "telehealth_platform_links_platform_check" CHECK ("telehealth_platform_links"."platform" in ('zoom', 'doxy_me', 'google_meet', 'microsoft_teams', 'webex', 'vsee', 'therapynotes', 'other'));