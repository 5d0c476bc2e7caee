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


def check_lob_types(cur):
    """xml, text, ntext, image and sql_variant: bound with python-tds's typed
    parameters (Param with XmlType, TextType, NTextType, ImageType) and as
    plain str/bytes (nvarchar/varbinary, converted implicitly), read back.
    python-tds cannot send a sql_variant parameter (VariantSerializer.write
    raises NotImplementedError for a value), so sql_variant values are bound
    as int/str parameters (which keep those base types) and read back."""
    from pytds import tds_types
    from pytds.tds_base import Param

    cur.execute(
        """CREATE TABLE dbo.PyLob (id INT NOT NULL PRIMARY KEY, x XML NULL, t TEXT NULL,
            n NTEXT NULL, b IMAGE NULL, v SQL_VARIANT NULL)"""
    )
    cur.execute(
        "INSERT INTO dbo.PyLob VALUES (%s, %s, %s, %s, %s, %s)",
        (
            1,
            Param(type=tds_types.XmlType(), value="<?xml version='1.0'?><a b='1'></a>"),
            Param(type=tds_types.TextType(), value="café text"),
            Param(type=tds_types.NTextType(), value="ntext ✓"),
            Param(type=tds_types.ImageType(), value=b"\x00\x01\xff"),
            42,
        ),
    )
    # python-tds declares a str parameter nvarchar(max), which a sql_variant
    # refuses (error 206, as SQL Server does): cast it to a bounded type.
    cur.execute(
        "INSERT INTO dbo.PyLob VALUES (%s, %s, %s, %s, %s, CAST(%s AS NVARCHAR(100)))",
        (2, "<r><c>x</c></r>", "y" * 9000, "wide ✓", pytds.Binary(b"\x07" * 9000), "variant str"),
    )
    cur.execute("INSERT INTO dbo.PyLob (id) VALUES (%s)", (3,))
    cur.execute("SELECT x, t, n, b, v FROM dbo.PyLob ORDER BY id")
    got = [tuple(r) for r in cur.fetchall()]
    want = [
        ('<a b="1" />', "café text", "ntext ✓", b"\x00\x01\xff", 42),
        ("<r><c>x</c></r>", "y" * 9000, "wide ✓", b"\x07" * 9000, "variant str"),
        (None, None, None, None, None),
    ]
    for i, (w, h) in enumerate(zip(want, got)):
        h = tuple(bytes(v) if isinstance(v, (bytes, bytearray)) else v for v in h)
        if w != h:
            fail(f"xml/text/ntext/image/sql_variant row {i + 1}: wrote {w!r}, read {h!r}")
    cur.execute(
        "SELECT CAST(SQL_VARIANT_PROPERTY(v, 'BaseType') AS NVARCHAR(20)) FROM dbo.PyLob WHERE id IN (1, 2) ORDER BY id"
    )
    bases = [r[0] for r in cur.fetchall()]
    if bases != ["int", "nvarchar"]:
        fail(f"sql_variant base types {bases!r}, expected ['int', 'nvarchar']")
    # hierarchyid and geography arrive as UDTTYPE: the client reads their
    # serialized bytes (it has no CLR types to decode them).
    cur.execute("CREATE TABLE dbo.PyClr (id INT NOT NULL PRIMARY KEY, h HIERARCHYID NULL, g GEOGRAPHY NULL)")
    cur.execute("INSERT INTO dbo.PyClr VALUES (1, 0x58, 0xE6100000010C0000000000002440), (2, NULL, NULL)")
    cur.execute("SELECT h, g FROM dbo.PyClr ORDER BY id")
    got = [tuple(bytes(v) if v is not None else None for v in r) for r in cur.fetchall()]
    if got != [(b"\x58", bytes.fromhex("E6100000010C0000000000002440")), (None, None)]:
        fail(f"hierarchyid/geography read as {got!r}")
    try:
        cur.execute("SELECT id FROM dbo.PyLob ORDER BY t")
        fail("ORDER BY a text column was accepted")
    except pytds.Error as e:
        if "306" not in repr(e) and "cannot be compared or sorted" not in str(e):
            fail(f"ORDER BY text failed with {e!r}, expected error 306")


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

    check_lob_types(cur)

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
    print("python-tds check passed: every type round-trips (xml, text, ntext, image, sql_variant too); CHANGETABLE reads")


if __name__ == "__main__":
    main()
