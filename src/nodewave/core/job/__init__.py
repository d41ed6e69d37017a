"""One pass over a Job: the planner, its status and conditions, versions, the selector, what its namespace allows, notifications."""
