/*  keys_control - the control thread of keys-svc (a czmq actor): it owns a
 *  database connection and the admin socket, and every KEYS_TICK_MS it runs
 *  the janitor and reloads the keyring when the generation moved (a change
 *  by this replica or any other). Bus worker threads never wait for it:
 *  they sign from the snapshot it last published. */
#ifndef OST_KEYS_CONTROL_H
#define OST_KEYS_CONTROL_H

typedef struct _keys_app_t keys_app_t;
typedef struct _keys_control_t keys_control_t;

//  Starts the thread and waits until its database connection and admin
//  socket are set up. NULL on failure with *exit_code 2 (configuration
//  error, printed to stderr) or 1.
keys_control_t *keys_control_new (keys_app_t *app, int *exit_code);
//  Stops the thread (it finishes the command it is running) and frees.
//  Idempotent.
void keys_control_destroy (keys_control_t **self_p);

#endif
