/*
 * worker.h - the lcore entry point for rte_eal_mp_remote_launch().
 * Runs the loop of the calling lcore's role until yard_dp.quit is set.
 */
#ifndef YARD_WORKER_H
#define YARD_WORKER_H

int yard_lcore_main(void *arg);

#endif
