-- A store written by the first release of perfml (before schema migrations): `perfml import` of the
-- test_store tiny dataset, an API key and an audit row. tests/test_migrations.py upgrades it.
BEGIN TRANSACTION;
CREATE TABLE activities (
	activity_id VARCHAR NOT NULL, 
	employee_id VARCHAR NOT NULL, 
	customer_id VARCHAR, 
	lead_id VARCHAR, 
	type VARCHAR NOT NULL, 
	occurred_at DATETIME NOT NULL, 
	duration_minutes FLOAT, 
	extra JSON, 
	ingested_at DATETIME NOT NULL, 
	PRIMARY KEY (activity_id), 
	FOREIGN KEY(employee_id) REFERENCES employees (employee_id) DEFERRABLE INITIALLY DEFERRED, 
	FOREIGN KEY(customer_id) REFERENCES customers (customer_id) DEFERRABLE INITIALLY DEFERRED, 
	FOREIGN KEY(lead_id) REFERENCES leads (lead_id) DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO "activities" VALUES('a1','e1',NULL,'l1','visit','2023-03-01 09:30:15.000000',30.0,NULL,'2026-12-01 19:28:05.780509');
INSERT INTO "activities" VALUES('a2','e2',NULL,NULL,'call','2023-03-02 00:00:00.000000',NULL,NULL,'2026-12-01 19:28:05.780509');
CREATE TABLE alert_reviews (
	id INTEGER NOT NULL, 
	alert_id INTEGER NOT NULL, 
	decision VARCHAR(16) NOT NULL, 
	note TEXT, 
	reviewer VARCHAR NOT NULL, 
	reviewed_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_alert_reviews_decision CHECK (decision IN ('confirm', 'dismiss')), 
	FOREIGN KEY(alert_id) REFERENCES alerts (id) ON DELETE CASCADE
);
CREATE TABLE alerts (
	id INTEGER NOT NULL, 
	type VARCHAR(32) NOT NULL, 
	subject_id VARCHAR NOT NULL, 
	change_id VARCHAR, 
	employee_id VARCHAR, 
	team_id VARCHAR, 
	period VARCHAR, 
	as_of DATETIME, 
	window_key VARCHAR NOT NULL, 
	score FLOAT, 
	model_name VARCHAR, 
	model_version VARCHAR, 
	explanation JSON, 
	status VARCHAR(16) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_alerts_subject_window UNIQUE (type, subject_id, window_key), 
	CONSTRAINT ck_alerts_status CHECK (status IN ('open', 'confirmed', 'dismissed'))
);
CREATE TABLE api_keys (
	id INTEGER NOT NULL, 
	key_hash VARCHAR(64) NOT NULL, 
	role VARCHAR(16) NOT NULL, 
	team_id VARCHAR, 
	employee_id VARCHAR, 
	label VARCHAR, 
	created_at DATETIME NOT NULL, 
	revoked_at DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT ck_api_keys_role CHECK (role IN ('hr_admin', 'hr_system', 'manager', 'employee')), 
	UNIQUE (key_hash)
);
INSERT INTO "api_keys" VALUES(1,'6a78981610684be08646d1aa3749e5213a9ebaca1a15370c3e08823788d2ecf5','hr_admin',NULL,NULL,'old release','2026-12-01 19:28:05.801972',NULL);
CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	principal VARCHAR NOT NULL, 
	action VARCHAR NOT NULL, 
	target VARCHAR, 
	model_or_plan_version VARCHAR, 
	request_id VARCHAR, 
	details JSON, 
	PRIMARY KEY (id)
);
INSERT INTO "audit_log" VALUES(1,'2026-12-01 19:28:05.803307','cli','key.create','key:1/hr_admin',NULL,NULL,'{"role": "hr_admin", "team_id": null, "employee_id": null, "label": "old release"}');
INSERT INTO "audit_log" VALUES(2,'2026-12-01 19:28:05.804481','tests','import','tiny',NULL,NULL,'{"rows": 3}');
CREATE TABLE customers (
	customer_id VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	segment VARCHAR, 
	region VARCHAR, 
	extra JSON, 
	ingested_at DATETIME NOT NULL, 
	PRIMARY KEY (customer_id)
);
INSERT INTO "customers" VALUES('c1','2023-01-05 10:00:00.000000','smb',NULL,'{"crm_source": "web"}','2026-12-01 19:28:05.780509');
INSERT INTO "customers" VALUES('c2','2023-02-01 00:00:00.000000',NULL,NULL,'{"crm_source": null}','2026-12-01 19:28:05.780509');
CREATE TABLE demographics (
	employee_id VARCHAR NOT NULL, 
	extra JSON, 
	ingested_at DATETIME NOT NULL, 
	PRIMARY KEY (employee_id), 
	FOREIGN KEY(employee_id) REFERENCES employees (employee_id) DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO "demographics" VALUES('e1','{"gender": "f", "age_band": "30-39"}','2026-12-01 19:28:05.780509');
INSERT INTO "demographics" VALUES('e2','{"gender": "m", "age_band": null}','2026-12-01 19:28:05.780509');
CREATE TABLE employees (
	employee_id VARCHAR NOT NULL, 
	role VARCHAR NOT NULL, 
	job_function VARCHAR, 
	team_id VARCHAR NOT NULL, 
	manager_id VARCHAR, 
	hire_date DATETIME NOT NULL, 
	probation_end_date DATETIME, 
	termination_date DATETIME, 
	extra JSON, 
	ingested_at DATETIME NOT NULL, 
	PRIMARY KEY (employee_id), 
	FOREIGN KEY(manager_id) REFERENCES employees (employee_id) DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO "employees" VALUES('e1','sales',NULL,'t1','m1','2023-01-01 00:00:00.000000',NULL,NULL,'{"attr_years": 3.0, "attr_school": "a", "attr_empty": null}','2026-12-01 19:28:05.780509');
INSERT INTO "employees" VALUES('e2','assistant',NULL,'t1','m1','2023-02-01 00:00:00.000000',NULL,NULL,'{"attr_years": null, "attr_school": "b", "attr_empty": null}','2026-12-01 19:28:05.780509');
INSERT INTO "employees" VALUES('m1','manager',NULL,'t1',NULL,'2020-01-01 00:00:00.000000',NULL,NULL,'{"attr_years": 10.5, "attr_school": null, "attr_empty": null}','2026-12-01 19:28:05.780509');
CREATE TABLE leads (
	lead_id VARCHAR NOT NULL, 
	customer_id VARCHAR, 
	owner_id VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	first_contact_at DATETIME, 
	converted_at DATETIME, 
	lost_at DATETIME, 
	extra JSON, 
	ingested_at DATETIME NOT NULL, 
	PRIMARY KEY (lead_id), 
	FOREIGN KEY(customer_id) REFERENCES customers (customer_id) DEFERRABLE INITIALLY DEFERRED, 
	FOREIGN KEY(owner_id) REFERENCES employees (employee_id) DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO "leads" VALUES('l1',NULL,'e1','2023-01-01 00:00:00.000000',NULL,NULL,NULL,NULL,'2026-12-01 19:28:05.780509');
CREATE TABLE metrics (
	employee_id VARCHAR NOT NULL, 
	period VARCHAR NOT NULL, 
	metric VARCHAR NOT NULL, 
	value FLOAT NOT NULL, 
	extra JSON, 
	ingested_at DATETIME NOT NULL, 
	PRIMARY KEY (employee_id, period, metric), 
	FOREIGN KEY(employee_id) REFERENCES employees (employee_id) DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE orders (
	order_id VARCHAR NOT NULL, 
	customer_id VARCHAR NOT NULL, 
	employee_id VARCHAR NOT NULL, 
	closed_at DATETIME NOT NULL, 
	amount VARCHAR(64) NOT NULL, 
	order_type VARCHAR, 
	extra JSON, 
	ingested_at DATETIME NOT NULL, 
	PRIMARY KEY (order_id), 
	FOREIGN KEY(customer_id) REFERENCES customers (customer_id) DEFERRABLE INITIALLY DEFERRED, 
	FOREIGN KEY(employee_id) REFERENCES employees (employee_id) DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO "orders" VALUES('o1','c1','e2','2023-04-01 00:00:00.000000','1234.56','new',NULL,'2026-12-01 19:28:05.780509');
INSERT INTO "orders" VALUES('o2','c1','e2','2023-05-01 00:00:00.000000','0.1','repeat',NULL,'2026-12-01 19:28:05.780509');
INSERT INTO "orders" VALUES('o3','c2','e1','2023-05-02 00:00:00.000000','9999999999.99','new',NULL,'2026-12-01 19:28:05.780509');
CREATE TABLE ownership_changes (
	change_id VARCHAR NOT NULL, 
	customer_id VARCHAR NOT NULL, 
	from_employee_id VARCHAR, 
	to_employee_id VARCHAR NOT NULL, 
	changed_at DATETIME NOT NULL, 
	reason VARCHAR, 
	extra JSON, 
	ingested_at DATETIME NOT NULL, 
	PRIMARY KEY (change_id), 
	FOREIGN KEY(customer_id) REFERENCES customers (customer_id) DEFERRABLE INITIALLY DEFERRED, 
	FOREIGN KEY(from_employee_id) REFERENCES employees (employee_id) DEFERRABLE INITIALLY DEFERRED, 
	FOREIGN KEY(to_employee_id) REFERENCES employees (employee_id) DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO "ownership_changes" VALUES('x1','c1','e1','e2','2023-03-01 06:00:00.000000',NULL,NULL,'2026-12-01 19:28:05.780509');
CREATE TABLE satisfaction (
	survey_id VARCHAR NOT NULL, 
	customer_id VARCHAR NOT NULL, 
	employee_id VARCHAR, 
	responded_at DATETIME NOT NULL, 
	score FLOAT NOT NULL, 
	extra JSON, 
	ingested_at DATETIME NOT NULL, 
	PRIMARY KEY (survey_id), 
	FOREIGN KEY(customer_id) REFERENCES customers (customer_id) DEFERRABLE INITIALLY DEFERRED, 
	FOREIGN KEY(employee_id) REFERENCES employees (employee_id) DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO "satisfaction" VALUES('s1','c1',NULL,'2023-05-01 00:00:00.000000',88.5,NULL,'2026-12-01 19:28:05.780509');
CREATE TABLE targets (
	employee_id VARCHAR NOT NULL, 
	period VARCHAR NOT NULL, 
	metric VARCHAR NOT NULL, 
	target VARCHAR(64) NOT NULL, 
	extra JSON, 
	ingested_at DATETIME NOT NULL, 
	PRIMARY KEY (employee_id, period, metric), 
	FOREIGN KEY(employee_id) REFERENCES employees (employee_id) DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO "targets" VALUES('e1','2023-04','revenue','10000.005',NULL,'2026-12-01 19:28:05.780509');
INSERT INTO "targets" VALUES('e1','2023-04','visits','20.0',NULL,'2026-12-01 19:28:05.780509');
CREATE TABLE transfer_labels (
	change_id VARCHAR NOT NULL, 
	is_anomalous INTEGER NOT NULL, 
	reviewed_at DATETIME, 
	extra JSON, 
	ingested_at DATETIME NOT NULL, 
	PRIMARY KEY (change_id), 
	FOREIGN KEY(change_id) REFERENCES ownership_changes (change_id) DEFERRABLE INITIALLY DEFERRED
);
INSERT INTO "transfer_labels" VALUES('x1',1,NULL,NULL,'2026-12-01 19:28:05.780509');
CREATE TABLE untracked_tables (
	table_name VARCHAR(64) NOT NULL, 
	declared_at DATETIME NOT NULL, 
	PRIMARY KEY (table_name)
);
CREATE INDEX ix_alerts_created_at ON alerts (created_at);
CREATE INDEX ix_alerts_team_status ON alerts (team_id, status);
CREATE INDEX ix_alerts_type ON alerts (type);
CREATE INDEX ix_alerts_status ON alerts (status);
CREATE INDEX ix_audit_log_at ON audit_log (at);
CREATE INDEX ix_alert_reviews_alert_id ON alert_reviews (alert_id);
COMMIT;
