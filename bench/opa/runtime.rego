# Runtime policies for countersign, translated from policies/runtime.cedar to
# Rego for benchmarking only (crates/policy/benches/decide.rs and
# bench/opa/run.sh). countersign decides with the Cedar set; this file must
# answer exactly as it does on the same request (the bench checks it before
# timing).
#
# Input (the Cedar request as JSON):
#   {"action": "write",
#    "principal": {"id": "agent-7", "owner": "alice", "environment": "production",
#                  "use_case": "order-support"},
#    "resource": {"system": "shop", "system_owner": "bob", "path": "orders/42"},
#    "context": {"task": "...", "risk_score": 20, "confidence_pct": 90,
#                "data_classes": ["pii"], "mutates": true, "hour_utc": 14,
#                "within_window": true, "impact": "...", "environment": "production"}}
#
# Output: data.countersign.runtime.decision =
#   {"outcome": "allow" | "deny" | "step_up", "determining": [ids, sorted],
#    "approver": role or null}
package countersign.runtime

import rego.v1

# The schema's actions and their groups (policies/runtime.cedarschema).
action_group := {
	"read": "reads", "list": "reads", "get": "reads",
	"write": "writes", "update": "writes", "delete": "writes", "create": "writes", "deploy": "writes",
	"pay": "payments", "refund": "payments", "transfer": "payments",
	"grant_access": "privilege", "revoke_access": "privilege", "change_role": "privilege",
	"send_email": "customer_comms", "send_message": "customer_comms",
}

group := action_group[input.action]

# permit: @id -> "allow" or "step_up"
kind := {
	"allow-low-risk-reads": "allow",
	"step-up-risky-reads": "step_up",
	"allow-nonproduction-writes": "allow",
	"step-up-production-writes": "step_up",
	"step-up-payments": "step_up",
	"step-up-privilege-changes": "step_up",
	"step-up-customer-communications": "step_up",
}

approver := {"step-up-payments": "risk", "step-up-privilege-changes": "security"}

permits contains "allow-low-risk-reads" if {
	group == "reads"
	input.context.risk_score <= 30
}

permits contains "step-up-risky-reads" if {
	group == "reads"
	input.context.risk_score > 30
}

permits contains "allow-nonproduction-writes" if {
	group == "writes"
	input.principal.environment != "production"
	input.context.risk_score <= 50
}

permits contains "step-up-production-writes" if {
	group == "writes"
	input.principal.environment == "production"
}

permits contains "step-up-production-writes" if {
	group == "writes"
	input.context.risk_score > 50
}

permits contains "step-up-payments" if group == "payments"

permits contains "step-up-privilege-changes" if group == "privilege"

permits contains "step-up-customer-communications" if group == "customer_comms"

forbids contains "deny-outside-time-window" if {
	group
	not input.context.within_window
}

forbids contains "deny-restricted-data-low-confidence" if {
	group
	"restricted" in input.context.data_classes
	input.context.confidence_pct < 50
}

step_ups contains id if {
	some id in permits
	kind[id] == "step_up"
}

# The first step-up (by id) that names an approver.
approvers := [approver[id] | some id in sort(step_ups); approver[id]]

default decision := {"outcome": "deny", "determining": [], "approver": null}

decision := {"outcome": "deny", "determining": sort(forbids), "approver": null} if {
	count(forbids) > 0
}

decision := {"outcome": "step_up", "determining": sort(step_ups), "approver": first_approver} if {
	count(forbids) == 0
	count(step_ups) > 0
}

decision := {"outcome": "allow", "determining": sort(permits), "approver": null} if {
	count(forbids) == 0
	count(permits) > 0
	count(step_ups) == 0
}

default first_approver := null

first_approver := approvers[0]
