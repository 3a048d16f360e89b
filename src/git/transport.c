#include "git/transport.h"

bool transport_route(http_request *req)
{
    (void)req;
    return false; /* git smart HTTP lands here */
}
