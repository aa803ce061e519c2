// The pod sandbox ("pause") image's program for the offline kind cluster: upstream's is C, this
// does the same (sleep until SIGTERM/SIGINT, reap children when it is PID 1 of a shared PID
// namespace) with no dependencies.
module konstruct/scripts/kind/pause

go 1.24.0
