/* dns.c - placeholder, being written */
#include "config.h"
#include "dns.h"
