#include "api/files.h"

bool files_route(http_request *req)
{
    (void)req;
    return false; /* resolve and raw downloads land here */
}
