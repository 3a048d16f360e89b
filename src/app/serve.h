/* serve: `hangar serve`, the daemon's start-up, main loop and shutdown. */
#ifndef HANGAR_SERVE_H
#define HANGAR_SERVE_H

int serve_main(int argc, char **argv);
void serve_usage(void);

#endif
