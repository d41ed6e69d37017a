"""The operator's own rules: leader election's timing, where its outbound calls may go."""
