#!/usr/bin/env bash
# Publish and read events over HTTP with curl, as any service can.
#
#   CALLSHEET_POLICY=examples/http/policy.toml callsheet serve &   # billing may report progress
#   TOKEN=$(callsheet token create billing | awk '{print $NF}')
#   URL=http://127.0.0.1:8765 TOKEN=$TOKEN bash examples/http/curl_session.sh
#
# Each step prints the HTTP status and the answer's body.
set -euo pipefail
: "${URL:?the server, e.g. http://127.0.0.1:8765}" "${TOKEN:?a token of producer billing}"
GOAL=${GOAL:-invoices-$(date +%s)}

ulid() {  # an event id: a ULID (any id matching the catalog's pattern will do)
    local chars=0123456789ABCDEFGHJKMNPQRSTVWXYZ id=$((RANDOM % 8)) i
    for i in $(seq 25); do id+=${chars:RANDOM%32:1}; done
    echo "$id"
}

event() {  # TYPE TASK DATA [ID]: an envelope of producer billing, in goal $GOAL
    local task=null
    [ "$2" = - ] || task="\"$2\""
    printf '{"type": "%s", "id": "%s", "schema_version": 1, "occurred_at": "%s", "producer": "billing", "correlation_id": "%s", "causation_id": null, "goal_id": "%s", "task_id": %s, "data": %s}' \
        "$1" "${4:-$(ulid)}" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$GOAL" "$GOAL" "$task" "$3"
}

call() {  # STEP METHOD PATH [BODY]
    local step=$1 method=$2 path=$3
    shift 3
    echo "# $step"
    curl -sS -X "$method" "$URL$path" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' "$@" -w ' -> HTTP %{http_code}\n'
}

ID=$(ulid)
GOAL_EVENT=$(event goal.submitted - '{"title": "Invoice run", "requested_by": "billing"}' "$ID")
call "submit a goal" POST /v1/events -d "$GOAL_EVENT"
call "the same event again (a retry): its stored position" POST /v1/events -d "$GOAL_EVENT"
call "another body under the same id: refused" POST /v1/events \
    -d "$(event goal.submitted - '{"title": "Forged"}' "$ID")"
call "percent out of range: the field is named" POST /v1/events \
    -d "$(event task.progress t1 '{"worker": "billing", "percent": 140}')"
call "two events, atomically" POST /v1/events:batch -d "{\"events\": [
    $(event task.progress t1 '{"worker": "billing", "percent": 40, "note": "fetched"}'),
    $(event task.progress t2 '{"worker": "billing", "percent": 10}')]}"
call "the goal's progress events" GET "/v1/events?goal=$GOAL&type=task.progress&limit=2"
call "the goal's board" GET "/v1/goals/$GOAL/board"
echo "# no token"
curl -sS "$URL/v1/events" -w ' -> HTTP %{http_code}\n'
