/*  config - settings from defaults, an optional KEY=VALUE file and the
 *  environment (later wins), validated per process. See config.def. */
#ifndef OST_CONFIG_H
#define OST_CONFIG_H

#include "ost.h"
#include <stdio.h>

enum {
    CFG_SECRET = 1 << 0,
    CFG_REQ_GW = 1 << 1,
    CFG_REQ_TOK = 1 << 2,
    CFG_REQ_FLOW = 1 << 3,
    CFG_REQ_KEYS = 1 << 4,
};

typedef struct {
#define CFG_STR char *
#define CFG_INT long
#define CFG(field, env, type, def, min, max, flags, desc) CFG_##type field;
#include "config.def"
#undef CFG
#undef CFG_STR
#undef CFG_INT
} config_t;

//  A config holding the defaults. NULL on allocation failure.
OST_WUR config_t *config_new (void);
void config_destroy (config_t **self_p);
//  Sets one setting by its environment name from a string. 0 ok, -1 unknown
//  name or bad value (an INT that does not parse or is out of range); *why
//  gets a fixed description of the problem.
OST_WUR int config_set (config_t *self, const char *env_name, const char *value, const char **why);
//  Reads KEY=VALUE lines ('#' comments, blank lines). -1 on the first bad line,
//  with a message to stderr naming the file and line.
OST_WUR int config_load_file (config_t *self, const char *path);
//  Applies every OSTIARY_* variable of the environment that the table knows.
OST_WUR int config_load_env (config_t *self);
//  Checks the settings process `req_flag` (CFG_REQ_x) needs. -1 with a message
//  to stderr naming the variable.
OST_WUR int config_validate (const config_t *self, int req_flag);
//  Prints every setting as ENV=value, secrets as "(set)" or "(unset)".
void config_print (const config_t *self, FILE *out);

//  The whole start-up of a process: parses argv (--config FILE,
//  --check-config, --help), loads file then environment, validates for
//  req_flag. Returns the config to run with, or NULL when the process must
//  exit now with *exit_code (0 after --help or a good --check-config, 2 on error).
config_t *config_load (int argc, char **argv, const char *program, int req_flag, int *exit_code);

#endif
