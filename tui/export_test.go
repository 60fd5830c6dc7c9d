package tui

// subsystemPanels are the subsystems' screens the test consoles show after
// the core's, as `wirebox console` does. This package cannot import the
// subsystems (they import it); subsystems_test.go, an external test file,
// fills the list from the daemon's table before the tests run.
var subsystemPanels []func(*Env) []Panel

// SubsystemPanels is subsystemPanels for the external test files.
var SubsystemPanels = &subsystemPanels
