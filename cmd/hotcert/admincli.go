package main

import "io"

// adminCommands talk to a running daemon's admin API.
var adminCommands = map[string]func([]string, io.Writer, io.Writer) error{}
