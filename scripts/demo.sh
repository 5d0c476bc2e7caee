#!/usr/bin/env bash
# The main job on a fresh machine: two SQL Server stand-ins ("a" and "b") with a
# small sample schema, ctsync syncing them both ways, changes made on both sides,
# the two databases converging, then `ctsync inspect`.
#
# Usage: scripts/demo.sh            (builds in release mode first)
# Everything it starts is stopped on exit; its files live in a temporary directory
# (kept if CTSYNC_DEMO_KEEP=1, for a look at the logs and the state store).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

echo "== building (release)"
cargo build --release --quiet -p ctsync -p mssql-sim --bins --examples
bin="${CARGO_TARGET_DIR:-$root/target}/release"
sim="$bin/mssql-sim"
sqlcmd="$bin/examples/sqlcmd"
ctsync="$bin/ctsync"

work=$(mktemp -d "${TMPDIR:-/tmp}/ctsync-demo.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${CTSYNC_DEMO_KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_sim() { # name port
  "$sim" --listen "127.0.0.1:$2" --database "$1" --user sa --password 'Demo#Secret1' \
    --data "$work/$1.sqlite" >"$work/$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do
    grep -q '^listening on' "$work/$1.log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "stand-in $1 did not start:"; cat "$work/$1.log"; exit 1
}

port_a=$(free_port); port_b=$(free_port)
echo "== starting stand-ins: SalesA on 127.0.0.1:$port_a, SalesB on 127.0.0.1:$port_b"
start_sim SalesA "$port_a"
start_sim SalesB "$port_b"

sql_a() { "$sqlcmd" "127.0.0.1:$port_a" SalesA sa 'Demo#Secret1' "$1"; }
sql_b() { "$sqlcmd" "127.0.0.1:$port_b" SalesB sa 'Demo#Secret1' "$1"; }

schema="
CREATE TABLE dbo.Customers (id INT IDENTITY(1,1) PRIMARY KEY, name NVARCHAR(100) NOT NULL, email NVARCHAR(200) NULL);
CREATE TABLE dbo.Orders (id INT IDENTITY(1,1) PRIMARY KEY, customer_id INT NOT NULL REFERENCES dbo.Customers(id), total DECIMAL(12,2) NOT NULL, placed_at DATETIME2(3) NOT NULL);
CREATE TABLE dbo.Products (sku NVARCHAR(20) NOT NULL, region CHAR(2) NOT NULL, price DECIMAL(10,2) NOT NULL, PRIMARY KEY (sku, region));
"
echo "== creating the sample schema on both"
sql_a "$schema"
sql_b "$schema"
# b's identities start elsewhere, so the demo shows ids being mapped, not copied.
sql_b "INSERT INTO dbo.Customers (name) VALUES (N'placeholder'); DELETE FROM dbo.Customers;"

cat >"$work/config.yaml" <<EOF
agent_id: demo
state_dir: $work/state
servers:
  a: { host: 127.0.0.1, port: $port_a, database: SalesA, user: sa, encrypt: not_supported }
  b: { host: 127.0.0.1, port: $port_b, database: SalesB, user: sa, encrypt: not_supported }
sync:
  poll_interval_ms: 200
  batch_size: 500
  enable_change_tracking: true
tables:
  - table: dbo.Customers
    key: [id]
    identity: true
    direction: both
  - table: dbo.Orders
    key: [id]
    identity: true
    references: { customer_id: dbo.Customers }
    direction: both
  - table: dbo.Products
    key: [sku, region]
    direction: a_to_b
EOF
# Passwords come from the environment, never from the file or the command line.
export CTSYNC_SERVERS__A__PASSWORD='Demo#Secret1' CTSYNC_SERVERS__B__PASSWORD='Demo#Secret1'

echo "== ctsync check"
"$ctsync" check --config "$work/config.yaml"

echo "== ctsync run (both ways), log in $work/ctsync.log"
"$ctsync" run --config "$work/config.yaml" >"$work/ctsync.log" 2>&1 &
ctsync_pid=$!
pids+=($ctsync_pid)
# Ready when every table has its starting point (its first capture); with
# `initial: none`, changes before that are not part of the sync.
ready=0
for _ in $(seq 1 150); do
  if "$ctsync" inspect --json --config "$work/config.yaml" 2>/dev/null | python3 -c '
import json, sys
v = json.load(sys.stdin)
sys.exit(0 if v.get("agent_running") and all(t.get("watermark") is not None for t in v["tables"]) else 1)'; then
    ready=1; break
  fi
  sleep 0.2
done
if [ "$ready" != 1 ]; then echo "ctsync did not start:"; cat "$work/ctsync.log"; exit 1; fi

echo "== changes on a"
sql_a "INSERT INTO dbo.Customers (name, email) VALUES (N'Ada Lovelace', N'ada@example.com'), (N'Grace Hopper', NULL);
INSERT INTO dbo.Orders (customer_id, total, placed_at) VALUES (1, 120.50, '2026-11-01T10:00:00'), (2, 99.99, '2026-11-02T11:30:00');
INSERT INTO dbo.Products (sku, region, price) VALUES (N'WIDGET', 'EU', 9.50), (N'WIDGET', 'US', 10.00), (N'GADGET', 'EU', 24.00);"
echo "== changes on b"
sql_b "INSERT INTO dbo.Customers (name, email) VALUES (N'Edsger Dijkstra', N'ewd@example.com');"
sleep 1
sql_b "INSERT INTO dbo.Orders (customer_id, total, placed_at)
  SELECT id, 42.00, '2026-11-03T09:15:00' FROM dbo.Customers WHERE name = N'Edsger Dijkstra';"
sql_a "UPDATE dbo.Customers SET email = N'grace@example.com' WHERE name = N'Grace Hopper';
UPDATE dbo.Products SET price = 8.75 WHERE sku = N'WIDGET' AND region = 'EU';
DELETE FROM dbo.Products WHERE sku = N'GADGET';"

# The same rows, ids aside (they are mapped, not copied), on both sides.
view_customers="SELECT name, email FROM dbo.Customers ORDER BY name"
view_orders="SELECT c.name, o.total, o.placed_at FROM dbo.Orders o JOIN dbo.Customers c ON c.id = o.customer_id ORDER BY c.name, o.total"
view_products="SELECT sku, region, price FROM dbo.Products ORDER BY sku, region"
snapshot() { for q in "$view_customers" "$view_orders" "$view_products"; do "$1" "$q"; done; }

echo "== waiting for convergence"
converged=0
for _ in $(seq 1 100); do
  if [ "$(snapshot sql_a)" = "$(snapshot sql_b)" ]; then converged=1; break; fi
  sleep 0.2
done
echo "-- a:"; snapshot sql_a
echo "-- b:"; snapshot sql_b
echo "-- ids on each side (mapped by ctsync):"
sql_a "SELECT 'a' AS side, id, name FROM dbo.Customers ORDER BY name"
sql_b "SELECT 'b' AS side, id, name FROM dbo.Customers ORDER BY name"

echo "== ctsync inspect (live, from the running agent)"
"$ctsync" inspect --config "$work/config.yaml"

kill -TERM "$ctsync_pid"
wait "$ctsync_pid" && echo "ctsync stopped cleanly (exit 0)" || echo "ctsync exited with $?"
if [ "$converged" = 1 ]; then
  echo "== converged: SalesA and SalesB hold the same rows"
else
  echo "== NOT converged; see $work/ctsync.log"; CTSYNC_DEMO_KEEP=1; tail -50 "$work/ctsync.log"; exit 1
fi
