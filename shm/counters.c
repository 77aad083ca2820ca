/*
 * counters.c - names and help texts of drop reasons and events.
 *
 * The tables are expanded from the X-macro lists in yard_counters.h, so a
 * reason added there is named everywhere (yardctl, telemetry, /metrics)
 * without touching this file.
 */
#include "yard_counters.h"

#include <stddef.h>

#define YARD_X_NAME(e, name, help) [YARD_DROP_##e] = name,
static const char *const drop_names[YARD_DROP_MAX] = {YARD_DROP_REASONS(YARD_X_NAME)};
#undef YARD_X_NAME

#define YARD_X_HELP(e, name, help) [YARD_DROP_##e] = help,
static const char *const drop_helps[YARD_DROP_MAX] = {YARD_DROP_REASONS(YARD_X_HELP)};
#undef YARD_X_HELP

#define YARD_X_NAME(e, name, help) [YARD_EV_##e] = name,
static const char *const event_names[YARD_EV_MAX] = {YARD_EVENTS(YARD_X_NAME)};
#undef YARD_X_NAME

#define YARD_X_HELP(e, name, help) [YARD_EV_##e] = help,
static const char *const event_helps[YARD_EV_MAX] = {YARD_EVENTS(YARD_X_HELP)};
#undef YARD_X_HELP

const char *yard_drop_name(unsigned reason)
{
    return reason < YARD_DROP_MAX ? drop_names[reason] : NULL;
}

const char *yard_drop_help(unsigned reason)
{
    return reason < YARD_DROP_MAX ? drop_helps[reason] : NULL;
}

const char *yard_event_name(unsigned event)
{
    return event < YARD_EV_MAX ? event_names[event] : NULL;
}

const char *yard_event_help(unsigned event)
{
    return event < YARD_EV_MAX ? event_helps[event] : NULL;
}
