/// The OpenAPI 3.1 description served at `/openapi.json`: every endpoint, the image ones in
/// full (they follow no OpenAI standard), the OpenAI-compatible ones by their fields.
enum OpenAPI {
    static let document = #"""
    {
      "openapi": "3.1.0",
      "info": {
        "title": "mmpipe serve",
        "version": "0.1.0",
        "description": "Local speech, text and image models on the CPU. The audio and embeddings endpoints follow OpenAI's API (its clients work unchanged); the image endpoints are described here. Every error is OpenAI's error object. With --api-key, every endpoint but /health wants 'Authorization: Bearer <key>'."
      },
      "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
          "Error": {
            "type": "object",
            "properties": {"error": {"type": "object", "properties": {
              "message": {"type": "string"}, "type": {"type": "string"},
              "param": {"type": ["string", "null"]}, "code": {"type": ["string", "null"]}}}}
          },
          "ImageUpload": {
            "type": "object",
            "required": ["file"],
            "properties": {
              "file": {"type": "array", "items": {"type": "string", "format": "binary"}, "description": "Images (PNG, JPEG, WebP, ...) or videos, one 'file' (or 'image') field each; at most 256."},
              "model": {"type": "string"},
              "fps": {"type": "number", "default": 1, "description": "Video frames sampled per second."},
              "max_frames": {"type": "integer", "default": 300, "description": "At most this many frames per video."}
            }
          },
          "FileError": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "error": {"type": "string"}},
            "description": "An uploaded file that could not be read; the others are answered."
          }
        },
        "responses": {
          "Error": {"description": "OpenAI's error object: 400 bad request or media, 401 key, 404 unknown model or endpoint, 408 body too slow, 413 body too large, 429 queue full (Retry-After), 504 took too long.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
      },
      "security": [{"bearer": []}],
      "paths": {
        "/v1/classifications": {
          "post": {
            "summary": "Classify texts with a head made by mmpipe train on a text model's embeddings (sentiment, topics, ...)",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["head", "input"], "properties": {
              "head": {"type": "string", "description": "A head on text embeddings the server was started with (mmpipe serve --head NAME=FILE)."},
              "input": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 2048}]},
              "top_k": {"type": "integer", "default": 5},
              "multi_label": {"type": "boolean", "default": false, "description": "Every class whose probability reaches threshold, instead of the top k."},
              "threshold": {"type": "number", "default": 0.5}}}}}},
            "responses": {
              "200": {"description": "One record per text, in input order.",
                "content": {"application/json": {"schema": {"type": "object", "properties": {
                  "object": {"const": "list"}, "model": {"type": "string"}, "head": {"type": "string"},
                  "data": {"type": "array", "items": {"type": "object", "properties": {
                    "index": {"type": "integer"}, "text": {"type": "string"}, "model": {"type": "string"}, "multi_label": {"type": "boolean"},
                    "labels": {"type": "array", "items": {"type": "object", "properties": {"label": {"type": "string"}, "score": {"type": "number"}}}}}}}}}}}},
              "default": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/v1/images/classifications": {
          "post": {
            "summary": "Classify images and video frames: ImageNet classes, zero-shot by free-text labels, or a head made by mmpipe train",
            "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {"allOf": [
              {"$ref": "#/components/schemas/ImageUpload"},
              {"type": "object", "properties": {
                "model": {"type": "string", "description": "ImageNet: efficientnet-lite0 (default) or another image model. Zero-shot (labels given): lite0-minilm (default unless CLIP weights are installed) or a CLIP model."},
                "labels": {"type": "string", "description": "Comma-separated labels (zero-shot); or one per 'labels[]' field."},
                "templates": {"type": "string", "enum": ["default", "imagenet"], "description": "Prompt templates; or your own, one per 'templates[]' field, each with {}."},
                "multi_label": {"type": "boolean", "default": false, "description": "Every label whose score reaches threshold, instead of the top k."},
                "threshold": {"type": "number", "description": "Multi-label threshold (lite0-minilm 0.3, CLIP 0.25)."},
                "top_k": {"type": "integer", "description": "Classes or labels per image; default 5, and every label for zero-shot."},
                "explain": {"type": "boolean", "default": false, "description": "lite0-minilm: the ImageNet classes behind each label."},
                "head": {"type": "string", "description": "A head the server was started with (mmpipe serve --head NAME=FILE): its classes with probabilities, as labels; multi_label keeps those reaching threshold (default 0.5)."}
              }}]}}}},
            "responses": {
              "200": {"description": "One record per image or sampled frame, as the CLI's JSON lines, with the uploaded file's name as path.",
                "content": {"application/json": {"schema": {"type": "object", "properties": {
                  "object": {"const": "list"}, "model": {"type": "string"},
                  "data": {"type": "array", "items": {"oneOf": [
                    {"type": "object", "properties": {
                      "path": {"type": "string"}, "model": {"type": "string"}, "time": {"type": "number"},
                      "predictions": {"type": "array", "items": {"type": "object", "properties": {
                        "label": {"type": "string"}, "class_index": {"type": "integer"}, "probability": {"type": "number"}}}},
                      "multi_label": {"type": "boolean"},
                      "labels": {"type": "array", "items": {"type": "object", "properties": {
                        "label": {"type": "string"}, "score": {"type": "number"},
                        "imagenet_classes": {"type": "array", "items": {"type": "object", "properties": {"class": {"type": "string"}, "share": {"type": "number"}}}}}}}}},
                    {"$ref": "#/components/schemas/FileError"}]}}}}}}},
              "default": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/v1/images/embeddings": {
          "post": {
            "summary": "Image and video-frame embeddings",
            "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {"allOf": [
              {"$ref": "#/components/schemas/ImageUpload"},
              {"type": "object", "properties": {
                "model": {"type": "string", "default": "efficientnet-lite0", "description": "An image model, or a CLIP model's image tower."},
                "encoding_format": {"type": "string", "enum": ["float", "base64"], "default": "float", "description": "base64: little-endian float32 bytes, as OpenAI's embeddings."}
              }}]}}}},
            "responses": {
              "200": {"description": "One embedding per image, one per sampled frame of a video (with its time).",
                "content": {"application/json": {"schema": {"type": "object", "properties": {
                  "object": {"const": "list"}, "model": {"type": "string"},
                  "data": {"type": "array", "items": {"oneOf": [
                    {"type": "object", "properties": {
                      "object": {"const": "embedding"}, "index": {"type": "integer"}, "path": {"type": "string"}, "time": {"type": "number"},
                      "embedding": {"oneOf": [{"type": "array", "items": {"type": "number"}}, {"type": "string"}]}}},
                    {"$ref": "#/components/schemas/FileError"}]}}}}}}},
              "default": {"$ref": "#/components/responses/Error"}
            }
          }
        },
        "/v1/audio/transcriptions": {
          "post": {
            "summary": "OpenAI's audio transcription (multipart: file, model, language, prompt, response_format json|text|srt|vtt|verbose_json, temperature, timestamp_granularities[] word|segment, stream)",
            "externalDocs": {"url": "https://platform.openai.com/docs/api-reference/audio/createTranscription"},
            "responses": {"200": {"description": "As OpenAI's; stream=true: server-sent events transcript.text.delta (with the segment's times) and transcript.text.done."},
                          "default": {"$ref": "#/components/responses/Error"}}
          }
        },
        "/v1/audio/translations": {
          "post": {
            "summary": "OpenAI's audio translation into English (the same form; multilingual models such as base)",
            "externalDocs": {"url": "https://platform.openai.com/docs/api-reference/audio/createTranslation"},
            "responses": {"200": {"description": "As OpenAI's."}, "default": {"$ref": "#/components/responses/Error"}}
          }
        },
        "/v1/embeddings": {
          "post": {
            "summary": "OpenAI's embeddings (input: a string or an array of strings; model: all-minilm-l6-v2 or a CLIP model's text tower; encoding_format float|base64)",
            "externalDocs": {"url": "https://platform.openai.com/docs/api-reference/embeddings/create"},
            "responses": {"200": {"description": "As OpenAI's (data, model, usage)."}, "default": {"$ref": "#/components/responses/Error"}}
          }
        },
        "/v1/models": {"get": {"summary": "OpenAI's models list: every registered model by name and alias, and whisper-1", "responses": {"200": {"description": "As OpenAI's."}}}},
        "/health": {"get": {"summary": "Liveness and the compute queue's depth (no key needed)", "security": [], "responses": {"200": {"description": "{\"status\": \"ok\", \"queue\": N}"}}}},
        "/metrics": {"get": {"summary": "Prometheus text: requests and latency by route and status, queue depth, model loads", "responses": {"200": {"description": "text/plain; version=0.0.4"}}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}}
      }
    }
    """#
}
