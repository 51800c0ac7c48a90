#!/usr/bin/env bash
# Computes the golden vectors of docs/protocol.md with openssl alone, independently of the TypeScript code.
# Usage: bash scripts/golden-vectors.sh   (prints one block per vector)
set -euo pipefail

vector() {
  local name=$1 secret=$2 producer=$3 timestamp=$4 body=$5
  local body_sha canonical signature
  body_sha=$(printf '%s' "$body" | openssl dgst -sha256 -binary | openssl base64 -A)
  canonical=$(printf 'METHOD:POST\nENDPOINT:/api/v1/signals/ingest\nTIMESTAMP:%s\nPRODUCER_ID:%s\nBODY_SHA256:%s' \
    "$timestamp" "$producer" "$body_sha")
  signature=$(printf '%s' "$canonical" | openssl dgst -sha256 -hmac "$secret" -binary | openssl base64 -A)
  printf '### %s\n\n| field | value |\n|---|---|\n' "$name"
  printf '| secret | `%s` |\n| producer_id | `%s` |\n| timestamp | `%s` |\n' "$secret" "$producer" "$timestamp"
  printf '| body_sha256 | `%s` |\n| signature | `%s` |\n\n' "$body_sha" "$signature"
  printf 'Body (exact bytes, UTF-8, no trailing newline):\n\n```json\n%s\n```\n\nCanonical string:\n\n```text\n%s\n```\n\n' "$body" "$canonical"
}

vector "Vector 1: ASCII body" \
  'test-secret-key-min-16-bytes-long' 'test-producer' '2025-10-25T14:30:45.123456Z' \
  '{"instrument":"GOLD","side":"buy","entry_price":1950.5,"stop_loss":1945,"take_profit":1960,"confidence":0.85,"reason":"test_signal","timestamp":"2025-10-25T14:30:45.123456Z","payload":{"rsi":35,"atr":5.5}}'

vector "Vector 2: non-ASCII body" \
  'zürich-desk-secret-2025!' 'desk.zrh-01' '2025-10-25T14:30:45.000001Z' \
  '{"instrument":"EUR/CHF","side":"sell","entry_price":0.9412,"stop_loss":0.9455,"take_profit":0.9301,"confidence":0.6,"reason":"Zürich breakout — 金 ↓","timestamp":"2025-10-25T16:30:45+02:00","payload":{}}'

vector "Vector 3: empty body" \
  'an-empty-body-is-still-signed' 'edge_case-producer' '2025-01-01T00:00:00.000000Z' \
  ''
