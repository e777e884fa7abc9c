// placeholder until the HTTP tests land
