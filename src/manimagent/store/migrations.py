"""The schema migrations from before Alembic, frozen: never add here.

New migrations are Alembic revisions, one file each in store/alembic/versions/ (see store/migrate.py).
This list still completes a home that an older manimagent migrated with it, before that home is
stamped with the Alembic revision it ends at (0010_baseline); tests build such homes from it.
"""

from __future__ import annotations

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
CREATE TABLE container (
    id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    image VARCHAR NOT NULL,
    docker_id VARCHAR,
    is_running BOOLEAN NOT NULL,
    memory_limit VARCHAR NOT NULL,
    cpu_limit FLOAT NOT NULL,
    pids_limit INTEGER NOT NULL,
    last_checked_at DATETIME,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_container_name ON container (name);
CREATE TABLE provider (
    id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    provider_type VARCHAR NOT NULL,
    model_name VARCHAR,
    base_url VARCHAR,
    priority INTEGER NOT NULL,
    is_active BOOLEAN NOT NULL,
    api_key_env VARCHAR,
    deployment VARCHAR,
    api_version VARCHAR,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_provider_name ON provider (name);
CREATE TABLE user (
    id INTEGER NOT NULL,
    email VARCHAR NOT NULL,
    password_hash VARCHAR NOT NULL,
    email_verified BOOLEAN NOT NULL,
    is_admin BOOLEAN NOT NULL,
    is_active BOOLEAN NOT NULL,
    date_joined DATETIME NOT NULL,
    last_login DATETIME,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_user_email ON user (email);
CREATE TABLE emailtoken (
    id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    token_hash VARCHAR NOT NULL,
    purpose VARCHAR NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at DATETIME,
    PRIMARY KEY (id),
    FOREIGN KEY(user_id) REFERENCES user (id)
);
CREATE UNIQUE INDEX ix_emailtoken_token_hash ON emailtoken (token_hash);
CREATE INDEX ix_emailtoken_user_id ON emailtoken (user_id);
CREATE TABLE refreshtoken (
    id INTEGER NOT NULL,
    jti VARCHAR NOT NULL,
    family VARCHAR NOT NULL,
    user_id INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at DATETIME,
    revoked_at DATETIME,
    PRIMARY KEY (id),
    FOREIGN KEY(user_id) REFERENCES user (id)
);
CREATE INDEX ix_refreshtoken_family ON refreshtoken (family);
CREATE UNIQUE INDEX ix_refreshtoken_jti ON refreshtoken (jti);
CREATE INDEX ix_refreshtoken_user_id ON refreshtoken (user_id);
CREATE TABLE script (
    id VARCHAR NOT NULL,
    owner_id INTEGER,
    prompt VARCHAR NOT NULL,
    content VARCHAR NOT NULL,
    scene_class VARCHAR,
    scenes JSON NOT NULL,
    status VARCHAR NOT NULL,
    source VARCHAR NOT NULL,
    provider VARCHAR,
    model VARCHAR,
    parent_id VARCHAR,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    total_tokens INTEGER NOT NULL,
    fixes JSON NOT NULL,
    provider_attempts JSON NOT NULL,
    error VARCHAR,
    created_at DATETIME NOT NULL,
    updated_at DATETIME NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(owner_id) REFERENCES user (id),
    FOREIGN KEY(parent_id) REFERENCES script (id)
);
CREATE INDEX ix_script_owner_id ON script (owner_id);
CREATE INDEX ix_script_parent_id ON script (parent_id);
CREATE TABLE execution (
    id VARCHAR NOT NULL,
    script_id VARCHAR NOT NULL,
    owner_id INTEGER,
    attempt_number INTEGER NOT NULL,
    engine VARCHAR NOT NULL,
    container VARCHAR,
    quality VARCHAR NOT NULL,
    format VARCHAR NOT NULL,
    scenes JSON NOT NULL,
    status VARCHAR NOT NULL,
    is_successful BOOLEAN NOT NULL,
    log VARCHAR NOT NULL,
    error VARCHAR,
    error_type VARCHAR,
    error_line INTEGER,
    output_path VARCHAR,
    outputs JSON NOT NULL,
    original_script VARCHAR NOT NULL,
    modified_script VARCHAR,
    fixes JSON NOT NULL,
    created_at DATETIME NOT NULL,
    started_at DATETIME,
    completed_at DATETIME,
    duration FLOAT,
    PRIMARY KEY (id),
    FOREIGN KEY(script_id) REFERENCES script (id),
    FOREIGN KEY(owner_id) REFERENCES user (id)
);
CREATE INDEX ix_execution_owner_id ON execution (owner_id);
CREATE INDEX ix_execution_script_id ON execution (script_id);
""",
    ),
    (
        "0002_execution_deadline",
        """
ALTER TABLE execution ADD COLUMN deadline DATETIME;
""",
    ),
    (
        "0003_execution_sandbox",
        """
ALTER TABLE execution ADD COLUMN sandbox VARCHAR;
""",
    ),
    (
        "0004_account_names_waitlist",
        """
ALTER TABLE user ADD COLUMN first_name VARCHAR NOT NULL DEFAULT '';
ALTER TABLE user ADD COLUMN last_name VARCHAR NOT NULL DEFAULT '';
ALTER TABLE refreshtoken ADD COLUMN replaced_by VARCHAR;
CREATE TABLE waitlistentry (
    id INTEGER NOT NULL,
    email VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_waitlistentry_email ON waitlistentry (email);
""",
    ),
    (
        "0005_fix_memory",
        """
CREATE TABLE fixmemory (
    id INTEGER NOT NULL,
    owner_id INTEGER,
    signature VARCHAR NOT NULL,
    error VARCHAR NOT NULL,
    diff VARCHAR NOT NULL,
    uses INTEGER NOT NULL,
    created_at DATETIME NOT NULL,
    PRIMARY KEY (id),
    FOREIGN KEY(owner_id) REFERENCES user (id)
);
CREATE INDEX ix_fixmemory_owner_id ON fixmemory (owner_id);
CREATE INDEX ix_fixmemory_signature ON fixmemory (signature);
""",
    ),
    (
        "0006_execution_layout",
        """
ALTER TABLE execution ADD COLUMN layout JSON NOT NULL DEFAULT '[]';
""",
    ),
    (
        "0007_eval_runs",
        """
CREATE TABLE evalrun (
    id VARCHAR NOT NULL,
    owner_id INTEGER,
    suite VARCHAR NOT NULL,
    provider VARCHAR,
    max_attempts INTEGER NOT NULL,
    status VARCHAR NOT NULL,
    items INTEGER NOT NULL,
    rendered INTEGER NOT NULL,
    success_at_1 FLOAT NOT NULL,
    success_at_k FLOAT NOT NULL,
    median_attempts FLOAT,
    seconds FLOAT NOT NULL,
    tokens INTEGER NOT NULL,
    cost FLOAT,
    created_at DATETIME NOT NULL,
    finished_at DATETIME,
    PRIMARY KEY (id),
    FOREIGN KEY(owner_id) REFERENCES user (id)
);
CREATE INDEX ix_evalrun_owner_id ON evalrun (owner_id);
CREATE TABLE evalitem (
    id INTEGER NOT NULL,
    run_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    script_id VARCHAR,
    rendered BOOLEAN NOT NULL,
    attempts INTEGER NOT NULL,
    fixes JSON NOT NULL,
    layout JSON NOT NULL,
    first_error VARCHAR,
    error VARCHAR,
    seconds FLOAT NOT NULL,
    tokens INTEGER NOT NULL,
    cost FLOAT,
    PRIMARY KEY (id),
    FOREIGN KEY(run_id) REFERENCES evalrun (id)
);
CREATE INDEX ix_evalitem_run_id ON evalitem (run_id);
""",
    ),
    (
        "0008_user_ids",
        # user ids are never reused (AUTOINCREMENT): the table is rebuilt with every row and id, and
        # the counter starts past every id any row still names (tokens, scripts of deleted users);
        # and a user's newest scripts and executions are a range of an index (pages of lists)
        """
CREATE TABLE user_new (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    email VARCHAR NOT NULL,
    password_hash VARCHAR NOT NULL,
    email_verified BOOLEAN NOT NULL,
    is_admin BOOLEAN NOT NULL,
    is_active BOOLEAN NOT NULL,
    date_joined DATETIME NOT NULL,
    last_login DATETIME,
    first_name VARCHAR NOT NULL DEFAULT '',
    last_name VARCHAR NOT NULL DEFAULT ''
);
INSERT INTO user_new (id, email, password_hash, email_verified, is_admin, is_active, date_joined, last_login, first_name, last_name)
    SELECT id, email, password_hash, email_verified, is_admin, is_active, date_joined, last_login, first_name, last_name FROM user;
DROP TABLE user;
ALTER TABLE user_new RENAME TO user;
CREATE UNIQUE INDEX ix_user_email ON user (email);
DELETE FROM sqlite_sequence WHERE name = 'user';
INSERT INTO sqlite_sequence (name, seq) SELECT 'user', MAX(seen) FROM (
    SELECT COALESCE(MAX(id), 0) AS seen FROM user
    UNION ALL SELECT COALESCE(MAX(user_id), 0) FROM refreshtoken
    UNION ALL SELECT COALESCE(MAX(user_id), 0) FROM emailtoken
    UNION ALL SELECT COALESCE(MAX(owner_id), 0) FROM script
    UNION ALL SELECT COALESCE(MAX(owner_id), 0) FROM execution
    UNION ALL SELECT COALESCE(MAX(owner_id), 0) FROM fixmemory
    UNION ALL SELECT COALESCE(MAX(owner_id), 0) FROM evalrun
);
CREATE INDEX ix_script_owner_created ON script (owner_id, created_at, id);
CREATE INDEX ix_execution_owner_created ON execution (owner_id, created_at, id)
""",
    ),
    (
        "0010_execution_cached_from",
        """
ALTER TABLE execution ADD COLUMN cached_from VARCHAR;
""",
    ),
]
