"""API keys: the plain key is returned once, only its sha256 is stored; roles and scopes; revocation."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from perfml import keys
from perfml.store import api_keys, audit_log


def test_create_returns_key_once_and_stores_only_its_hash(home):
    created = keys.create_key(role="manager", team_id="T01", label="alice", engine=home.engine)
    assert created.key.startswith(keys.KEY_PREFIX) and len(created.key) > 40
    with home.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(api_keys))]
    assert len(rows) == 1
    row = rows[0]
    assert row["key_hash"] == hashlib.sha256(created.key.encode()).hexdigest()
    assert created.key not in str(row)  # the plain key is nowhere at rest
    assert (row["role"], row["team_id"], row["employee_id"], row["label"]) == ("manager", "T01", None, "alice")
    assert "key_hash" not in keys.list_keys(home.engine)[0]
    other = keys.create_key(role="manager", team_id="T01", engine=home.engine)
    assert other.key != created.key  # random, never derived from the scope


def test_verify_roles_and_scopes(home):
    admin = keys.create_key(role="hr_admin", engine=home.engine)
    emp = keys.create_key(role="employee", employee_id="E7", team_id="ignored", engine=home.engine)
    p = keys.verify_key(admin.key, home.engine)
    assert p.role == "hr_admin" and p.is_admin and p.team_id is None
    e = keys.verify_key(emp.key, home.engine)
    assert (e.role, e.employee_id, e.team_id) == ("employee", "E7", None)  # scope only where the role uses it
    assert e.name == f"key:{e.key_id}/employee:E7"
    for bad in (None, "", "pfm_", "pfm_" + "x" * 43, admin.key[:-1], admin.key + "x", "Bearer " + admin.key):
        assert keys.verify_key(bad, home.engine) is None
    with pytest.raises(keys.KeyRequestError, match="unknown role"):
        keys.create_key(role="superuser", engine=home.engine)
    with pytest.raises(keys.KeyRequestError, match="needs --team"):
        keys.create_key(role="manager", engine=home.engine)
    with pytest.raises(keys.KeyRequestError, match="needs --employee"):
        keys.create_key(role="employee", engine=home.engine)


def test_revocation_and_audit(home):
    created = keys.create_key(role="hr_system", created_by="cli:ops", engine=home.engine)
    assert keys.verify_key(created.key, home.engine) is not None  # cached now
    assert keys.revoke_key(created.principal.key_id, engine=home.engine, revoked_by="cli:ops")
    assert keys.verify_key(created.key, home.engine) is None  # immediately, despite the cache
    assert not keys.revoke_key(created.principal.key_id, engine=home.engine)
    with home.engine.connect() as conn:
        entries = [dict(r._mapping) for r in conn.execute(sa.select(audit_log).order_by(audit_log.c.id))]
    assert [(e["action"], e["principal"]) for e in entries] == [("key.create", "cli:ops"), ("key.revoke", "cli:ops")]
    assert entries[0]["details"]["role"] == "hr_system" and created.key not in str(entries)
