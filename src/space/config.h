/* config: the space's README.md YAML front matter. */
#ifndef HANGAR_CONFIG_H
#define HANGAR_CONFIG_H

#include <jansson.h>
#include <stddef.h>

/* The front matter of a README as a JSON object (HF's cardData), or NULL when
 * there is none or it is not valid YAML. */
json_t *config_card_data(const char *readme, size_t len);

#endif
