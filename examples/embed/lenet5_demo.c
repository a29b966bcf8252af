/* lenet5_demo: LeNet-5 compiled by nnc, embedded in C. It classifies an image read from a file, then
 * fine-tunes the model on a small batch read from another file, printing the loss after each step, saves
 * the training state, and classifies the image again with the trained weights.
 *
 *   nnc compile examples/lenet5.nn --target llvm -o out/
 *   cc -O2 examples/embed/lenet5_demo.c -Iout -Lout -llenet5 -Wl,-rpath,"$PWD/out" -o lenet5_demo
 *   ./lenet5_demo out image.f32 batch.bin 5
 *
 * image.f32: 784 float32 values (one 1x28x28 image, little-endian). batch.bin: the batch size n as an
 * int32, then n·784 float32 pixels, then n int32 labels. Every failure prints the library's message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lenet5.h"

#define CHECK(call, last_error)                                                      \
    do {                                                                             \
        int rc_ = (call);                                                            \
        if (rc_ != NNC_OK) {                                                         \
            fprintf(stderr, "error %d: %s\n", rc_, last_error);                      \
            return 1;                                                                \
        }                                                                            \
    } while (0)

static void *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *data = malloc(n > 0 ? (size_t)n : 1);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) { free(data); data = NULL; }
    fclose(f);
    *size = (size_t)n;
    return data;
}

static int argmax(const float *v, int n) {
    int best = 0;
    for (int i = 1; i < n; i++) if (v[i] > v[best]) best = i;
    return best;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s DIR image.f32 batch.bin STEPS\n", argv[0]);
        return 2;
    }
    char path[4096];
    size_t size;
    float *image = read_file(argv[2], &size);
    if (image == NULL || size != LENET5_IMAGE_ELEMENTS * sizeof(float)) {
        fprintf(stderr, "%s: expected %zu bytes of float32 pixels\n", argv[2], LENET5_IMAGE_ELEMENTS * sizeof(float));
        return 1;
    }
    unsigned char *batch = read_file(argv[3], &size);
    int32_t n = 0;
    if (batch == NULL || size < 4 || (memcpy(&n, batch, 4), n < 1)
        || size != 4 + (size_t)n * (MNIST_IMAGE_ELEMENTS * sizeof(float) + sizeof(int32_t))) {
        fprintf(stderr, "%s: expected n, n images and n labels\n", argv[3]);
        return 1;
    }
    float *images = malloc((size_t)n * MNIST_IMAGE_ELEMENTS * sizeof(float));
    int32_t *labels = malloc((size_t)n * sizeof(int32_t));
    memcpy(images, batch + 4, (size_t)n * MNIST_IMAGE_ELEMENTS * sizeof(float));
    memcpy(labels, batch + 4 + (size_t)n * MNIST_IMAGE_ELEMENTS * sizeof(float), (size_t)n * sizeof(int32_t));
    int steps = atoi(argv[4]);

    /* inference: one image */
    lenet5_t *model;
    float logits[LENET5_LOGITS_ELEMENTS];
    CHECK(lenet5_create(&model, 1), lenet5_last_error(NULL));
    snprintf(path, sizeof path, "%s/lenet5.safetensors", argv[1]);
    CHECK(lenet5_load(model, path), lenet5_last_error(model));
    CHECK(lenet5_forward(model, 1, image, logits), lenet5_last_error(model));
    printf("class %d\n", argmax(logits, LENET5_LOGITS_ELEMENTS));

    /* training: a few steps on the batch; an instance for batches of up to n items */
    mnist_t *train;
    CHECK(mnist_create(&train, n), mnist_last_error(NULL));
    snprintf(path, sizeof path, "%s/mnist.safetensors", argv[1]);
    CHECK(mnist_load(train, path), mnist_last_error(train));
    for (int s = 0; s < steps; s++) {
        float loss, accuracy;
        CHECK(mnist_step(train, n, images, labels, &loss, &accuracy), mnist_last_error(train));
        printf("step %d loss %.9g accuracy %.9g\n", s + 1, loss, accuracy);
    }
    /* the training state (parameters, optimiser slots, step counter, key): a device can resume from it */
    snprintf(path, sizeof path, "%s/mnist-trained.safetensors", argv[1]);
    CHECK(mnist_save(train, path), mnist_last_error(train));

    /* the trained parameters have the model's names: classify again with them */
    CHECK(lenet5_load(model, path), lenet5_last_error(model));
    CHECK(lenet5_forward(model, 1, image, logits), lenet5_last_error(model));
    printf("class after training %d\n", argmax(logits, LENET5_LOGITS_ELEMENTS));
    mnist_destroy(train);
    lenet5_destroy(model);
    free(images);
    free(labels);
    free(batch);
    free(image);
    return 0;
}
