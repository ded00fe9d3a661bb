"""`ruwang audit verify` as an operator runs it: a real database file, a real exit status."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

RUWANG = [sys.executable, "-m", "ruwang.cli"]


def _run(args: list[str], var_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"RUWANG_ENV": "test", "RUWANG_VAR_DIR": str(var_dir)})
    return subprocess.run(  # noqa: S603 - our own CLI
        RUWANG + args, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    var_dir = tmp_path_factory.mktemp("var")
    result = _run(["migrate", "--noinput", "-v", "0"], var_dir)
    assert result.returncode == 0, result.stderr
    result = _run(["createadmin", "root_admin", "--generate"], var_dir)
    assert result.returncode == 0, result.stderr
    return var_dir


def test_verify_exits_zero_on_an_intact_log(migrated: Path):
    result = _run(["audit", "verify"], migrated)
    assert result.returncode == 0, result.stderr
    assert "intact" in result.stdout


def test_verify_exits_non_zero_and_names_the_edited_row(migrated: Path):
    db = sqlite3.connect(migrated / "ruwang.sqlite3")
    (victim,) = db.execute("SELECT min(id) + 1 FROM audit_auditentry").fetchone()
    db.execute("UPDATE audit_auditentry SET object_repr = 'edited' WHERE id = ?", [victim])
    db.commit()
    db.close()
    result = _run(["audit", "verify"], migrated)
    assert result.returncode != 0
    assert f"id={victim}" in result.stderr
