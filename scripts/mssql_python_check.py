#!/usr/bin/env python3
"""The stand-in seen by Microsoft's own driver: mssql-python (PyPI), which
bundles the Microsoft ODBC Driver for SQL Server (needs Debian's libltdl7).

Usage: mssql_python_check.py HOST PORT DATABASE USER PASSWORD

The ODBC driver sends parameterised statements as sp_prepexec (and
executemany as batched RPCs), unlike tiberius and python-tds, which use
sp_executesql. Creates a table with every type of SIM-SPEC.md, inserts a
row of each through bound parameters and one of NULLs, reads them back and
compares, inserts many rows with executemany, then turns change tracking on,
writes with a change tracking context and reads CHANGETABLE with a bound
version. Exits non-zero with a message naming the first mismatch.
"""
import datetime
import decimal
import sys
import uuid

import mssql_python


def fail(msg):
    print(f"mssql-python check FAILED: {msg}", file=sys.stderr)
    sys.exit(1)


def check_lob_types(cur):
    """xml, text, ntext, image and sql_variant. The ODBC driver binds a str
    as nvarchar and bytes as varbinary (mssql-python has no way to declare a
    parameter xml, text or sql_variant), so values go in through those
    implicit conversions (the driver's declared type, e.g. tinyint or
    varchar(n), is what a sql_variant keeps as its base type) and come back as the driver reads each type."""
    cur.execute(
        """CREATE TABLE dbo.MsLob (id INT NOT NULL PRIMARY KEY, x XML NULL, t TEXT NULL,
            n NTEXT NULL, b IMAGE NULL, v SQL_VARIANT NULL)"""
    )
    cur.execute(
        "INSERT INTO dbo.MsLob VALUES (?, ?, ?, ?, ?, ?)",
        (1, "<?xml version='1.0'?><a b='1'></a>", "café text", "ntext ✓", b"\x00\x01\xff", 42),
    )
    cur.execute(
        "INSERT INTO dbo.MsLob VALUES (?, ?, ?, ?, ?, ?)",
        (2, "<r><c>x</c></r>", "y" * 9000, "wide ✓", b"\x07" * 9000, "variant str"),
    )
    cur.execute("INSERT INTO dbo.MsLob (id) VALUES (?)", (3,))
    cur.execute("SELECT x, t, n, b FROM dbo.MsLob ORDER BY id")
    got = [tuple(bytes(v) if isinstance(v, (bytes, bytearray)) else v for v in r) for r in cur.fetchall()]
    want = [
        ('<a b="1" />', "café text", "ntext ✓", b"\x00\x01\xff"),
        ("<r><c>x</c></r>", "y" * 9000, "wide ✓", b"\x07" * 9000),
        (None, None, None, None),
    ]
    for i, (w, h) in enumerate(zip(want, got)):
        if w != h:
            fail(f"xml/text/ntext/image row {i + 1}: wrote {w!r}, read {h!r}")
    cur.execute(
        "SELECT CAST(SQL_VARIANT_PROPERTY(v, 'BaseType') AS NVARCHAR(20)), CAST(v AS NVARCHAR(50)) FROM dbo.MsLob WHERE id IN (?, ?) ORDER BY id",
        (1, 2),
    )
    got = [tuple(r) for r in cur.fetchall()]
    # mssql-python declares 42 as tinyint and an ASCII str as varchar(n) in
    # its sp_prepexec parameter list: the sql_variant keeps those base types.
    if got != [("tinyint", "42"), ("varchar", "variant str")]:
        fail(f"sql_variant base types and values {got!r}, expected [('tinyint', '42'), ('varchar', 'variant str')]")
    # Reading a sql_variant column itself.
    cur.execute("SELECT v FROM dbo.MsLob WHERE id = ?", (1,))
    v = cur.fetchone()[0]
    if v != 42:
        fail(f"a sql_variant holding tinyint 42 read as {v!r}")
    # hierarchyid and geography arrive as UDTTYPE: the client reads their
    # serialized bytes (it has no CLR types to decode them).
    cur.execute("CREATE TABLE dbo.PyClr (id INT NOT NULL PRIMARY KEY, h HIERARCHYID NULL, g GEOGRAPHY NULL)")
    cur.execute("INSERT INTO dbo.PyClr VALUES (1, 0x58, 0xE6100000010C0000000000002440), (2, NULL, NULL)")
    cur.execute("SELECT h, g FROM dbo.PyClr ORDER BY id")
    got = [tuple(bytes(v) if v is not None else None for v in r) for r in cur.fetchall()]
    if got != [(b"\x58", bytes.fromhex("E6100000010C0000000000002440")), (None, None)]:
        fail(f"hierarchyid/geography read as {got!r}")
    try:
        cur.execute("SELECT id FROM dbo.MsLob ORDER BY t")
        fail("ORDER BY a text column was accepted")
    except mssql_python.Error as e:
        if "306" not in str(e) and "cannot be compared or sorted" not in str(e):
            fail(f"ORDER BY text failed with {e!r}, expected error 306")


def main():
    if len(sys.argv) != 6:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    host, port, database, user, password = sys.argv[1:]
    conn = mssql_python.connect(
        f"Server=tcp:{host},{port};Database={database};UID={user};PWD={password};"
        "Encrypt=no;TrustServerCertificate=yes"
    )
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(
        """CREATE TABLE dbo.MsTypes (
            id INT NOT NULL PRIMARY KEY,
            c_bigint BIGINT NULL, c_smallint SMALLINT NULL, c_tinyint TINYINT NULL, c_bit BIT NULL,
            c_dec DECIMAL(18,4) NULL, c_float FLOAT NULL, c_real REAL NULL, c_money MONEY NULL,
            c_nvarchar NVARCHAR(50) NULL, c_nvarmax NVARCHAR(MAX) NULL, c_varchar VARCHAR(50) NULL,
            c_varbinary VARBINARY(20) NULL, c_guid UNIQUEIDENTIFIER NULL,
            c_date DATE NULL, c_time TIME(6) NULL, c_datetime2 DATETIME2(6) NULL,
            c_datetime DATETIME NULL, c_dto DATETIMEOFFSET(6) NULL, c_nchar NCHAR(5) NULL)"""
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
        decimal.Decimal("922337203685477.5807"),
        "héllo wörld ✓",
        "x" * 9000,
        "plain ascii",
        b"\x00\x01\xfe\xff",
        guid,
        datetime.date(2024, 2, 29),
        datetime.time(13, 14, 15, 123456),
        datetime.datetime(2024, 2, 29, 13, 14, 15, 123456),
        datetime.datetime(2024, 2, 29, 13, 14, 15),
        datetime.datetime(2024, 2, 29, 13, 14, 15, 123456, tzinfo=tz),
        "ab",
    )
    placeholders = ", ".join(["?"] * len(row))
    cur.execute(f"INSERT INTO dbo.MsTypes VALUES ({placeholders})", row)
    cur.execute("INSERT INTO dbo.MsTypes (id) VALUES (?)", (2,))
    cur.execute("SELECT * FROM dbo.MsTypes WHERE id IN (?, ?) ORDER BY id", (1, 2))
    got = cur.fetchall()
    if len(got) != 2:
        fail(f"expected 2 rows, got {len(got)}")
    names = [d[0] for d in cur.description]
    for name, want, have in zip(names, row, got[0]):
        if isinstance(want, float) and name == "c_real":
            ok = abs(have - want) < 1e-6
        elif isinstance(want, bytes):
            ok = bytes(have) == want
        elif name == "c_nchar":
            # nchar(5) pads with spaces.
            ok = have == want.ljust(5)
        else:
            ok = have == want
        if not ok:
            fail(f"column {name}: wrote {want!r}, read {have!r}")
    for name, have in zip(names[1:], got[1][1:]):
        if have is not None:
            fail(f"column {name} of the NULL row read {have!r}")

    # Many rows through one call: the driver batches the RPCs.
    cur.executemany(
        "INSERT INTO dbo.MsTypes (id, c_nvarchar, c_dec) VALUES (?, ?, ?)",
        [(10 + i, f"row {i}", decimal.Decimal(i) / 4) for i in range(50)],
    )
    cur.execute("SELECT COUNT(*), SUM(c_dec) FROM dbo.MsTypes WHERE id >= ?", (10,))
    count, total = cur.fetchone()
    if count != 50 or total != decimal.Decimal("306.25"):
        fail(f"executemany: {count} rows summing {total}, expected 50 rows summing 306.25")

    check_lob_types(cur)

    # Change tracking through the same client.
    cur.execute(
        f"ALTER DATABASE [{database}] SET CHANGE_TRACKING = ON (CHANGE_RETENTION = 2 DAYS, AUTO_CLEANUP = ON)"
    )
    cur.execute("ALTER TABLE dbo.MsTypes ENABLE CHANGE_TRACKING")
    cur.execute("SELECT CHANGE_TRACKING_CURRENT_VERSION()")
    start = cur.fetchone()[0]
    cur.execute(
        "WITH CHANGE_TRACKING_CONTEXT (?) UPDATE dbo.MsTypes SET c_bigint = ? WHERE id = ?",
        (b"ctx:1", 7, 1),
    )
    cur.execute("DELETE FROM dbo.MsTypes WHERE id = ?", (2,))
    cur.execute(
        "SELECT CT.id, CT.SYS_CHANGE_OPERATION, CT.SYS_CHANGE_CONTEXT FROM CHANGETABLE(CHANGES dbo.MsTypes, ?) AS CT ORDER BY CT.id",
        (start,),
    )
    changes = [(c[0], c[1], bytes(c[2]) if c[2] is not None else None) for c in cur.fetchall()]
    if changes != [(1, "U", b"ctx:1"), (2, "D", None)]:
        fail(f"CHANGETABLE(CHANGES ...) returned {changes!r}, expected [(1, 'U', b'ctx:1'), (2, 'D', None)]")

    # A server error reaches the client with its number and message.
    try:
        cur.execute("INSERT INTO dbo.MsTypes (id) VALUES (?)", (1,))
        fail("a duplicate key was accepted")
    except mssql_python.Error as e:
        if "PRIMARY KEY" not in str(e) and "2627" not in str(e):
            fail(f"a duplicate key failed with {e!r}, expected error 2627")
    conn.close()
    print("mssql-python check passed: every type round-trips through sp_prepexec (xml, text, ntext, image, sql_variant too); executemany; CHANGETABLE reads")


if __name__ == "__main__":
    main()
