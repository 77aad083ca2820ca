/*
 * lcores.h - lcore roles, RX queue assignment and per-lcore rings.
 * Main lcore, start-up and shutdown only.
 */
#ifndef YARD_LCORES_H
#define YARD_LCORES_H

#include <stddef.h>

#include "yard_shm.h"

/* Decide every lcore's role from the configuration and the EAL's lcores. */
int yard_lcores_roles(char *err, size_t errlen);

/* After the ports exist: give out RX queues and build class queues and rings. */
int yard_lcores_setup(char *err, size_t errlen);

/* How many lcores have a role. */
unsigned yard_lcores_count(enum yard_lcore_role role);

void yard_lcores_free(void);

#endif
