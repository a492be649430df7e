#include "agent/cli.h"

int main(int argc, char** argv) { return edge::run_cli(argc, argv); }
