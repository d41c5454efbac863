// placeholder: written by the front-end work
