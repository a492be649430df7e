#pragma once
// Command line (DESIGN §8): `edge-agent run | state | check | hash [FILE|-] | --version`.

namespace edge {

// Parses argv and runs the chosen command; returns the exit code.
int run_cli(int argc, char** argv);

}  // namespace edge
