#!/usr/bin/env python3
"""The stand-in seen by a SQL Server client nobody here wrote: python-tds.

Usage: python_tds_check.py HOST PORT DATABASE USER PASSWORD

Creates a table with every type of SIM-SPEC.md, inserts a row of each
through bound parameters and one of NULLs, reads them back and compares,
then turns change tracking on and reads CHANGETABLE. Exits non-zero with a
message naming the first mismatch.
"""
import datetime
import decimal
import sys
import uuid

import pytds


def fail(msg):
    print(f"python-tds check FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, database, user, password = sys.argv[1:]
    conn = pytds.connect(
        server=host,
        port=int(port),
        database=database,
        user=user,
        password=password,
        autocommit=True,
        login_timeout=10,
        timeout=30,
    )
    cur = conn.cursor()
    cur.execute(
        """CREATE TABLE dbo.PyTypes (
            id INT NOT NULL PRIMARY KEY,
            c_bigint BIGINT NULL, c_smallint SMALLINT NULL, c_tinyint TINYINT NULL, c_bit BIT NULL,
            c_dec DECIMAL(18,4) NULL, c_float FLOAT NULL, c_real REAL NULL,
            c_nvarchar NVARCHAR(50) NULL, c_nvarmax NVARCHAR(MAX) NULL, c_varchar VARCHAR(50) NULL,
            c_varbinary VARBINARY(20) NULL, c_guid UNIQUEIDENTIFIER NULL,
            c_date DATE NULL, c_time TIME(6) NULL, c_datetime2 DATETIME2(6) NULL,
            c_datetime DATETIME NULL, c_dto DATETIMEOFFSET(6) NULL)"""
    )
    guid = uuid.UUID("6F9619FF-8B86-D011-B42D-00C04FC964FF")
    tz = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    row = (
        1,
        -9_000_000_000_000,
        -32000,
        255,
        True,
        decimal.Decimal("12345.6789"),
        1.5e300,
        0.25,
        "héllo wörld ✓",
        "x" * 9000,
        "plain ascii",
        pytds.Binary(b"\x00\x01\xfe\xff"),
        guid,
        datetime.date(2024, 2, 29),
        datetime.time(13, 14, 15, 123456),
        datetime.datetime(2024, 2, 29, 13, 14, 15, 123456),
        datetime.datetime(2024, 2, 29, 13, 14, 15),
        datetime.datetime(2024, 2, 29, 13, 14, 15, 123456, tzinfo=tz),
    )
    placeholders = ", ".join(["%s"] * len(row))
    cur.execute(f"INSERT INTO dbo.PyTypes VALUES ({placeholders})", row)
    cur.execute("INSERT INTO dbo.PyTypes (id) VALUES (%s)", (2,))
    cur.execute("SELECT * FROM dbo.PyTypes ORDER BY id")
    got = cur.fetchall()
    if len(got) != 2:
        fail(f"expected 2 rows, got {len(got)}")
    names = [d[0] for d in cur.description]
    for name, want, have in zip(names, row, got[0]):
        if isinstance(want, float) and name == "c_real":
            ok = abs(have - want) < 1e-6
        else:
            ok = have == want
        if not ok:
            fail(f"column {name}: wrote {want!r}, read {have!r}")
    for name, have in zip(names[1:], got[1][1:]):
        if have is not None:
            fail(f"column {name} of the NULL row read {have!r}")

    # Change tracking through the same client.
    cur.execute(
        f"ALTER DATABASE [{database}] SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)"
    )
    cur.execute("ALTER TABLE dbo.PyTypes ENABLE CHANGE_TRACKING")
    cur.execute("SELECT CHANGE_TRACKING_CURRENT_VERSION()")
    start = cur.fetchone()[0]
    cur.execute("UPDATE dbo.PyTypes SET c_bigint = 7 WHERE id = 1")
    cur.execute("DELETE FROM dbo.PyTypes WHERE id = 2")
    cur.execute(
        "SELECT CT.id, CT.SYS_CHANGE_OPERATION FROM CHANGETABLE(CHANGES dbo.PyTypes, %s) AS CT ORDER BY CT.id",
        (start,),
    )
    changes = cur.fetchall()
    if [tuple(c) for c in changes] != [(1, "U"), (2, "D")]:
        fail(f"CHANGETABLE(CHANGES ...) returned {changes!r}, expected [(1, 'U'), (2, 'D')]")
    conn.close()
    print("python-tds check passed: every type round-trips; CHANGETABLE reads")


if __name__ == "__main__":
    main()
