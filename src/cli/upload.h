/* upload: hangar upload, a folder committed to a space through the HF commit
 * API: .gitignore honoured, unchanged files skipped (preupload oids against
 * local git blob hashes), the NDJSON commit streamed from disk. */
#ifndef HANGAR_CLI_UPLOAD_H
#define HANGAR_CLI_UPLOAD_H

int cli_upload_main(int argc, char **argv);

#endif
