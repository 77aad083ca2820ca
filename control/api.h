/*
 * api.h - the management API's methods (PROTOCOL.md §2), served by the
 * msgpack-RPC server on yard-control's unix socket.
 *
 *   status.get        the daemon, the dataplane link and the directory
 *   endpoints.list    {prefix?, limit?}            endpoints and groups
 *   endpoints.add     {name, ipv4, port, lease_ms?} -> {seq}
 *   endpoints.del     {name, ipv4?, port?}         -> {seq, removed}
 *   topics.list       {prefix?, limit?}            topics and subscribers
 *   topics.add        {name, ipv4, port, subscriber?} -> {seq}  (not leased)
 *   topics.del        {name, ipv4?, port?}         -> {seq, removed}
 *   routes.list                                    static routes (config + API)
 *   routes.add        {name, ipv4, port, mac?}     -> {seq}
 *   routes.del        {name}                       -> {seq}
 *   config.get                                     the configuration in effect
 *   stats.get                                      control-plane counters and
 *                                                  dataplane totals
 *   wait.applied      {seq, timeout_ms?}           -> {applied_seq}, once the
 *                                                  dataplane has applied seq
 *
 * A mutating call answers once its change is in the write-ahead log (fsync)
 * and queued for the dataplane; its `seq` is what wait.applied waits for.
 * Errors are {"code", "message"} maps with the codes of rpc.h.
 *
 * One thread (the event loop).
 */
#ifndef YARD_CTL_API_H
#define YARD_CTL_API_H

#include <stdbool.h>

#include "rpc_server.h"

struct yard_ctl;

/* The rpc server's dispatch function; ctx is the struct yard_ctl. */
int yard_api_dispatch(void *ctx, struct yard_rpc_call *call);

/* Answer wait.applied calls whose sequence is applied or whose time is up.
 * True while some still wait. */
bool yard_api_poll_waiters(struct yard_ctl *c);

/* Complete every waiting call with an error (shutdown). */
void yard_api_fini(struct yard_ctl *c);

#endif
