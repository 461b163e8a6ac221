-- A database as synthetic-monitor 0.1 left it (sqlite3 .dump): one open incident, paged in Slack.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE IF NOT EXISTS "_sqlite_migrations" (
   "id" INTEGER PRIMARY KEY,
   "migration_set" TEXT,
   "name" TEXT,
   "applied_at" TEXT
);
INSERT INTO _sqlite_migrations VALUES(1,'synthetic-monitor','m001_runs','2026-12-02 00:58:56.992274+00:00');
INSERT INTO _sqlite_migrations VALUES(2,'synthetic-monitor','m002_alerts','2026-12-02 00:58:56.993067+00:00');
INSERT INTO _sqlite_migrations VALUES(3,'synthetic-monitor','m003_incident_closed_reason','2026-12-02 00:58:56.993340+00:00');
CREATE TABLE IF NOT EXISTS "runs" (
   "id" INTEGER PRIMARY KEY,
   "check_name" TEXT,
   "type" TEXT,
   "location" TEXT,
   "target" TEXT,
   "started_at" TEXT,
   "duration_ms" REAL,
   "ok" INTEGER,
   "status_code" INTEGER,
   "method" TEXT,
   "failure" TEXT,
   "error_text" TEXT,
   "failing_step" TEXT,
   "phases" TEXT,
   "cert_expires_at" REAL,
   "details" TEXT
);
INSERT INTO runs VALUES(1,'threads-api','http','local','http://127.0.0.1:8000/api/threads','2026-11-30T10:00:00.000+00:00',3.0,0,500,'GET','expected status 200, got 500','relation "threads" does not exist',NULL,NULL,NULL,NULL);
CREATE TABLE IF NOT EXISTS "run_steps" (
   "run_id" INTEGER,
   "position" INTEGER,
   "name" TEXT,
   "ok" INTEGER,
   "duration_ms" REAL,
   "error" TEXT,
   PRIMARY KEY ("run_id", "position")
);
CREATE TABLE IF NOT EXISTS "run_artifacts" (
   "run_id" INTEGER,
   "path" TEXT,
   PRIMARY KEY ("run_id", "path")
);
CREATE TABLE IF NOT EXISTS "incidents" (
   "id" INTEGER PRIMARY KEY,
   "check_name" TEXT,
   "group_id" INTEGER,
   "opened_at" TEXT,
   "resolved_at" TEXT,
   "first_failure_at" TEXT,
   "last_failure_at" TEXT,
   "first_error_text" TEXT,
   "last_error_text" TEXT,
   "last_failure" TEXT,
   "runs_failed" INTEGER,
   "facts" TEXT,
   "notified_at" TEXT,
   "error_changed" INTEGER,
   "announced_error_text" TEXT,
   "slack_channel" TEXT,
   "slack_ts" TEXT
, "closed_reason" TEXT);
INSERT INTO incidents VALUES(1,'threads-api',1,'2026-11-30T10:00:00.000+00:00',NULL,'2026-11-30T09:59:00.000+00:00','2026-11-30T10:00:00.000+00:00','relation "threads" does not exist','relation "threads" does not exist','expected status 200, got 500',2,'{}','2026-11-30T10:00:00.000+00:00',0,'relation "threads" does not exist','C0ONCALL','1764496800.000100',NULL);
CREATE TABLE IF NOT EXISTS "outbox" (
   "id" INTEGER PRIMARY KEY,
   "created_at" TEXT,
   "channel" TEXT,
   "kind" TEXT,
   "check_name" TEXT,
   "incident_id" INTEGER,
   "payload" TEXT,
   "attempts" INTEGER,
   "next_attempt_at" TEXT,
   "delivered_at" TEXT,
   "failed_at" TEXT,
   "last_error" TEXT
);
INSERT INTO outbox VALUES(1,'2026-11-30T10:00:00.000+00:00','slack','firing','threads-api',1,'{}',1,'2026-11-30T10:00:00.000+00:00','2026-11-30T10:00:01.000+00:00',NULL,NULL);
CREATE TABLE IF NOT EXISTS "silences" (
   "check_name" TEXT PRIMARY KEY,
   "until" TEXT,
   "created_at" TEXT
);
CREATE UNIQUE INDEX "idx__sqlite_migrations_migration_set_name"
    ON "_sqlite_migrations" ("migration_set", "name");
CREATE INDEX "idx_runs_check_name_started_at"
    ON "runs" ("check_name", "started_at");
CREATE INDEX "idx_runs_started_at"
    ON "runs" ("started_at");
CREATE INDEX "idx_incidents_check_name_resolved_at"
    ON "incidents" ("check_name", "resolved_at");
CREATE INDEX "idx_outbox_channel_delivered_at_failed_at_id"
    ON "outbox" ("channel", "delivered_at", "failed_at", "id");
CREATE INDEX outbox_pending on outbox(id) where delivered_at is null and failed_at is null;
COMMIT;
