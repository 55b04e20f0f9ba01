#pragma once
#include <png.h>
#include <setjmp.h>
#include <string.h>

// libpng reports errors by longjmp, which Swift cannot do; this wrapper keeps setjmp in C.
// It reads any PNG (gray, palette, tRNS, 16-bit, interlaced) as 8-bit RGBA without gamma
// or colour-space transforms: 16-bit samples keep their high byte, as PIL does.

typedef struct {
    unsigned int width, height;
    int bit_depth, color_type, interlaced;
    char message[200];
} mmpipe_png_info;

typedef struct {
    const unsigned char *data;
    size_t size, pos;
    mmpipe_png_info *info;
} mmpipe_png_source;

static void mmpipe_png_error(png_structp png, png_const_charp msg) {
    mmpipe_png_source *src = (mmpipe_png_source *)png_get_error_ptr(png);
    strncpy(src->info->message, msg, sizeof src->info->message - 1);
    src->info->message[sizeof src->info->message - 1] = 0;
    png_longjmp(png, 1);
}

static void mmpipe_png_warning(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static void mmpipe_png_read_data(png_structp png, png_bytep out, size_t n) {
    mmpipe_png_source *src = (mmpipe_png_source *)png_get_io_ptr(png);
    if (n > src->size - src->pos) png_error(png, "file is truncated");
    memcpy(out, src->data + src->pos, n);
    src->pos += n;
}

/// Reads the header; with `out` non-NULL (width*height*4 bytes) also decodes the image
/// as RGBA8. Returns 0 on success, -1 on error (message in info->message).
static inline int mmpipe_png_read(const unsigned char *data, size_t size,
                                  unsigned char *out, size_t out_size, mmpipe_png_info *info) {
    mmpipe_png_source src = { data, size, 0, info };
    info->message[0] = 0;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, mmpipe_png_error, mmpipe_png_warning);
    if (!png) { strcpy(info->message, "out of memory"); return -1; }
    png_infop pinfo = png_create_info_struct(png);
    if (!pinfo) { png_destroy_read_struct(&png, NULL, NULL); strcpy(info->message, "out of memory"); return -1; }
    png_bytep *rows = NULL;
    if (setjmp(png_jmpbuf(png))) {
        png_free(png, rows);
        png_destroy_read_struct(&png, &pinfo, NULL);
        return -1;
    }
    png_set_read_fn(png, &src, mmpipe_png_read_data);
    // Our own limits are checked by the caller between the two calls.
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    png_read_info(png, pinfo);
    info->width = png_get_image_width(png, pinfo);
    info->height = png_get_image_height(png, pinfo);
    info->bit_depth = png_get_bit_depth(png, pinfo);
    info->color_type = png_get_color_type(png, pinfo);
    info->interlaced = png_get_interlace_type(png, pinfo) != PNG_INTERLACE_NONE;
    if (out == NULL) {
        png_destroy_read_struct(&png, &pinfo, NULL);
        return 0;
    }
    if ((size_t)info->width * info->height * 4 > out_size) png_error(png, "output buffer too small");
    png_set_strip_16(png);
    png_set_packing(png);
    if (info->color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (info->color_type == PNG_COLOR_TYPE_GRAY && info->bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, pinfo, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (info->color_type == PNG_COLOR_TYPE_GRAY || info->color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_add_alpha(png, 0xff, PNG_FILLER_AFTER);   // no-op when alpha is already there
    png_set_interlace_handling(png);
    png_read_update_info(png, pinfo);
    if (png_get_rowbytes(png, pinfo) != (size_t)info->width * 4) png_error(png, "unexpected row layout");
    rows = (png_bytep *)png_malloc(png, sizeof(png_bytep) * (info->height ? info->height : 1));
    for (unsigned int y = 0; y < info->height; y++) rows[y] = out + (size_t)y * info->width * 4;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_free(png, rows);
    png_destroy_read_struct(&png, &pinfo, NULL);
    return 0;
}
