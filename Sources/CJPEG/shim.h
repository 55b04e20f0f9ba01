#pragma once
// jpeglib.h needs FILE and size_t declared before it is included.
#include <stdio.h>
#include <stddef.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

// libjpeg reports fatal errors through error_exit, which must not return: it has to
// longjmp, which Swift cannot do. These two wrappers keep setjmp/longjmp in C and turn
// every libjpeg error into a return code and a message.

typedef struct {
    int width, height, components;
    int colorspace;       // J_COLOR_SPACE of the file
    int adobe;            // saw an Adobe marker (CMYK stored inverted)
    int progressive;
    int warnings;         // corrupt-data warnings seen while decoding
    char message[JMSG_LENGTH_MAX];
} mmpipe_jpeg_info;

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    mmpipe_jpeg_info *info;
} mmpipe_jpeg_error;

static void mmpipe_jpeg_error_exit(j_common_ptr cinfo) {
    mmpipe_jpeg_error *err = (mmpipe_jpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->info->message);
    longjmp(err->jump, 1);
}

static void mmpipe_jpeg_emit_message(j_common_ptr cinfo, int level) {
    mmpipe_jpeg_error *err = (mmpipe_jpeg_error *)cinfo->err;
    if (level < 0) {   // a warning: corrupt or truncated data that libjpeg works around
        if (err->info->warnings == 0) (*cinfo->err->format_message)(cinfo, err->info->message);
        err->info->warnings++;
    }
}

/// Reads the header (dimensions, colour space). With `out` non-NULL, also decodes the
/// whole image into `out` as 3 bytes per pixel (RGB) or, for CMYK files, 4 (CMYK as
/// stored). Returns 0 on success, -1 on error (message in info->message).
static inline int mmpipe_jpeg_read(const unsigned char *data, unsigned long size,
                                   unsigned char *out, unsigned long out_size,
                                   mmpipe_jpeg_info *info) {
    struct jpeg_decompress_struct cinfo;
    mmpipe_jpeg_error jerr;
    memset(&cinfo, 0, sizeof cinfo);
    info->warnings = 0;
    info->message[0] = 0;
    cinfo.err = jpeg_std_error(&jerr.pub);
    jerr.pub.error_exit = mmpipe_jpeg_error_exit;
    jerr.pub.emit_message = mmpipe_jpeg_emit_message;
    jerr.info = info;
    if (setjmp(jerr.jump)) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, size);
    jpeg_read_header(&cinfo, TRUE);
    info->width = (int)cinfo.image_width;
    info->height = (int)cinfo.image_height;
    info->components = cinfo.num_components;
    info->colorspace = (int)cinfo.jpeg_color_space;
    info->adobe = cinfo.saw_Adobe_marker;
    info->progressive = cinfo.progressive_mode;
    if (out == NULL) {
        jpeg_destroy_decompress(&cinfo);
        return 0;
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    unsigned long stride = (unsigned long)cinfo.output_width * (unsigned long)cinfo.output_components;
    if (stride * cinfo.output_height > out_size) {
        strcpy(info->message, "decoded size does not match the header");
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out + (unsigned long)cinfo.output_scanline * stride;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    return 0;
}
