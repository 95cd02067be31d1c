/* An application's own functions with names that tickless uses inside
 * (tl_log, tl_heap_init, tl_conn_tick): linked together with the static
 * library, they must neither collide with it nor be called by it. */
int tl_log(int level);
int tl_heap_init(void);
int tl_conn_tick(void);

int tl_log(int level)
{
    return level;
}

int tl_heap_init(void)
{
    return 0;
}

int tl_conn_tick(void)
{
    return 0;
}
